package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// maxBody caps what is read of any response.
const maxBody = 1 << 20

func newHTTPClient(cfg config) *http.Client {
	hosts := len(cfg.issuers) + len(cfg.targets)
	tr := &http.Transport{
		Proxy: nil, // never route load through a proxy from the environment
		DialContext: (&net.Dialer{
			Timeout:   cfg.timeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          cfg.concurrency * hosts,
		MaxIdleConnsPerHost:   cfg.concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.timeout,
		ResponseHeaderTimeout: cfg.timeout,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cfg.timeout,
		// A redirect could lead outside loopback; report it as a status.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// response is what a request produced: a status and body, or err.
type response struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
	err     error
}

// send sends payload as JSON: a []byte is sent as is, anything else is
// encoded.
func send(ctx context.Context, c *http.Client, method, url string, payload any, header http.Header) response {
	var body io.Reader
	switch p := payload.(type) {
	case nil:
	case []byte: // already JSON
		body = bytes.NewReader(p)
	default:
		b, err := json.Marshal(payload)
		if err != nil {
			return response{err: err}
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return response{err: err}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return response{err: err, latency: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	r := response{status: resp.StatusCode, header: resp.Header, body: b, latency: time.Since(start), err: err}
	return r
}

// transportKind names a failure without an HTTP response.
func transportKind(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "network"
}

// errorBody is the issuer's error body; kind is added by resource servers.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Kind        string `json:"kind"`
}

func parseError(body []byte) errorBody {
	var e errorBody
	_ = json.Unmarshal(body, &e)
	e.Error, e.Kind = clean(e.Error), clean(e.Kind)
	return e
}

// statusKind names a failed response: "401 invalid_grant", or the status
// alone when the body has no error code.
func statusKind(status int, e errorBody) string {
	if e.Error == "" {
		return strconv.Itoa(status)
	}
	return fmt.Sprintf("%d %s", status, e.Error)
}

// clean keeps server-chosen strings short and printable in the report.
func clean(s string) string {
	if len(s) > 48 {
		s = s[:48]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) && r != ' ' {
			return r
		}
		return '_'
	}, s)
}

// retryAfter reads Retry-After (seconds or an HTTP date); 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(n, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// tokenResponse is the sign-in and refresh response.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int64  `json:"refresh_expires_in"`
	User             struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"user"`
}

func (t *tokenResponse) valid() bool {
	return t.AccessToken != "" && t.RefreshToken != "" && strings.EqualFold(t.TokenType, "Bearer")
}
