package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Backoffs that keep a worker from spinning against a server that is down
// or asks it to slow down.
const (
	networkBackoff  = 100 * time.Millisecond
	maxRetryBackoff = 5 * time.Second
)

// session is the state a worker owns: its account, its latest refresh
// token and an access token per resource it calls (target.key).
type session struct {
	email      string
	userID     string
	registered bool
	signedIn   bool
	access     map[string]*accessToken
	refresh    string
}

type accessToken struct {
	raw   string
	until time.Time
	stale bool // a resource server rejected it: refresh before the next call
}

// usable reports whether the token for key may be sent at now.
func (s *session) usable(key string, now time.Time) bool {
	a := s.access[key]
	return a != nil && !a.stale && now.Before(a.until)
}

type worker struct {
	id    int
	r     *runner
	rng   *rand.Rand
	s     session
	seq   int               // accounts this worker has made
	etags map[string]string // issuer → last JWKS ETag
	// tgt is the resource server of the next api call: sign-in and
	// refresh ask for a token for it.
	tgt target
	// raw holds the worker's connection to each issuer for plain
	// refreshes (rawhttp.go).
	raw map[string]*rawConn
}

func newWorker(id int, r *runner) *worker {
	w := &worker{
		id:    id,
		r:     r,
		rng:   rand.New(rand.NewPCG(r.seed, uint64(id))),
		etags: make(map[string]string),
	}
	if len(r.cfg.targets) > 0 {
		w.tgt = r.target()
	}
	return w
}

// tokenRequest adds the resource and scope of t to a sign-in or refresh
// body.
func tokenRequest(body map[string]string, t target) map[string]string {
	if t.resource != "" {
		body["resource"] = t.resource
	}
	if t.scope != "" {
		body["scope"] = t.scope
	}
	return body
}

// run sends requests until stop ends or the request budget is spent.
// Requests in flight use reqCtx, so the end of the run lets them finish and
// every request sent is counted.
func (w *worker) run(stop, reqCtx context.Context) {
	defer func() {
		for _, rc := range w.raw {
			if rc != nil {
				rc.close()
			}
		}
	}()
	for stop.Err() == nil {
		if w.r.pacer != nil && w.r.pacer.wait(stop) != nil {
			return
		}
		if !w.r.takeRequest() {
			return
		}
		if d := w.step(reqCtx); d > 0 {
			if sleepCtx(stop, d) != nil {
				return
			}
		}
	}
}

// next chooses the operation: the worker's own sign-up and sign-in come
// first, and an access token that is known to be bad or past its lifetime
// is refreshed instead of being sent.
func (w *worker) next() op {
	switch {
	case !w.s.registered:
		return opSignup
	case !w.s.signedIn:
		return opSignin
	}
	o := w.r.cfg.mix.pick(w.rng.IntN(w.r.cfg.mix.total))
	if o == opAPI && !w.s.usable(w.tgt.key(), w.r.now()) {
		return opRefresh
	}
	return o
}

// step sends one request and returns how long to back off after it.
func (w *worker) step(ctx context.Context) time.Duration {
	switch o := w.next(); o {
	case opSignup:
		return w.signup(ctx)
	case opSignin:
		return w.signin(ctx)
	case opRefresh:
		return w.refresh(ctx)
	case opAPI:
		return w.api(ctx)
	default:
		return w.jwks(ctx)
	}
}

// finish records a request's outcome and returns the backoff it calls for.
// A request cut short by the end of the whole program is not counted.
func (w *worker) finish(ctx context.Context, o op, resp response, failure string) time.Duration {
	if resp.err != nil && ctx.Err() != nil {
		return 0
	}
	if !w.r.now().Before(w.r.measureFrom) {
		w.r.stats.record(o, resp.latency, failure)
	}
	switch {
	case resp.err != nil:
		return networkBackoff
	case resp.status == http.StatusTooManyRequests || resp.status == http.StatusServiceUnavailable:
		return min(max(retryAfter(resp.header, w.r.now()), networkBackoff), maxRetryBackoff)
	}
	return 0
}

// failureOf names the failure of resp given the status that means success,
// or returns "" when it succeeded.
func failureOf(resp response, want int) string {
	switch {
	case resp.err != nil:
		return transportKind(resp.err)
	case resp.status != want:
		return statusKind(resp.status, parseError(resp.body))
	}
	return ""
}

func (w *worker) newEmail() string {
	w.seq++
	return fmt.Sprintf("%s-w%d-%d@load.example", w.r.runID, w.id, w.seq)
}

// signup makes the worker's own account first; later sign-ups (from the
// mix) make extra accounts that nobody signs in to.
func (w *worker) signup(ctx context.Context) time.Duration {
	email := w.newEmail()
	body := map[string]string{"email": email, "password": w.r.password}
	resp := send(ctx, w.r.client, http.MethodPost, w.r.issuer()+"/v1/signup", body, nil)
	failure := failureOf(resp, http.StatusCreated)
	if failure == "" {
		var out struct {
			User struct {
				ID    string `json:"id"`
				Email string `json:"email"`
			} `json:"user"`
		}
		if json.Unmarshal(resp.body, &out) != nil || out.User.ID == "" {
			failure = "bad_response"
		}
	}
	backoff := w.finish(ctx, opSignup, resp, failure)
	if failure != "" {
		return backoff
	}
	w.r.stats.accountsCreated.Add(1)
	w.r.accounts.add(email)
	if !w.s.registered {
		w.s = session{email: email, registered: true}
	}
	return backoff
}

func (w *worker) signin(ctx context.Context) time.Duration {
	body := tokenRequest(map[string]string{"email": w.s.email, "password": w.r.password}, w.tgt)
	resp := send(ctx, w.r.client, http.MethodPost, w.r.issuer()+"/v1/signin", body, nil)
	failure, tok := tokenFailure(resp)
	backoff := w.finish(ctx, opSignin, resp, failure)
	if failure == "" {
		w.r.stats.sessionsStarted.Add(1)
		w.s.access = nil // a new session
		w.useTokens(tok)
	}
	return backoff
}

// refresh always presents the latest refresh token of the session, and
// asks for an access token for the next target. A refresh the issuer
// refuses (invalid_grant or another client error) ends the session: the
// worker signs in again.
func (w *worker) refresh(ctx context.Context) time.Duration {
	var body any
	if w.tgt.resource == "" && w.tgt.scope == "" {
		// The body is put together directly: the busiest request of a
		// run should cost the load client as little as it can.
		quoted, _ := json.Marshal(w.s.refresh)
		b := make([]byte, 0, len(`{"refresh_token":}`)+len(quoted))
		body = append(append(append(b, `{"refresh_token":`...), quoted...), '}')
	} else {
		body = tokenRequest(map[string]string{"refresh_token": w.s.refresh}, w.tgt)
	}
	var resp response
	base := w.r.issuer()
	rc := w.rawConn(base)
	if b, ok := body.([]byte); ok && rc != nil {
		resp = rc.post(ctx, "/v1/token/refresh", b)
	} else {
		resp = send(ctx, w.r.client, http.MethodPost, base+"/v1/token/refresh", body, nil)
	}
	failure, tok := tokenFailure(resp)
	backoff := w.finish(ctx, opRefresh, resp, failure)
	switch {
	case failure == "":
		w.r.stats.refreshed.Add(1)
		w.useTokens(tok)
	case resp.err == nil && resp.status >= 400 && resp.status < 500 && resp.status != http.StatusTooManyRequests:
		w.s.signedIn = false
	}
	return backoff
}

// rawConn returns the worker's own connection to the issuer at base for
// plain refreshes (see rawConn), or nil for an https issuer.
func (w *worker) rawConn(base string) *rawConn {
	rc, ok := w.raw[base]
	if !ok {
		if w.raw == nil {
			w.raw = make(map[string]*rawConn, len(w.r.cfg.issuers))
		}
		rc = newRawConn(base, w.r.cfg.timeout)
		w.raw[base] = rc
	}
	return rc
}

func tokenFailure(resp response) (string, tokenResponse) {
	var tok tokenResponse
	failure := failureOf(resp, http.StatusOK)
	if failure == "" && (json.Unmarshal(resp.body, &tok) != nil || !tok.valid()) {
		failure = "bad_response"
	}
	return failure, tok
}

// useTokens keeps a sign-in's or refresh's tokens: the access token is
// the next target's.
func (w *worker) useTokens(tok tokenResponse) {
	w.s.signedIn = true
	w.s.refresh = tok.RefreshToken
	if tok.User.ID != "" {
		w.s.userID = tok.User.ID
	}
	if w.s.access == nil {
		w.s.access = map[string]*accessToken{}
	}
	w.s.access[w.tgt.key()] = &accessToken{raw: tok.AccessToken, until: tokenUntil(tok, w.r.now())}
}

// tokenUntil is when an access token stops being worth sending.
func tokenUntil(tok tokenResponse, now time.Time) time.Time {
	if tok.ExpiresIn > 0 {
		return now.Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	// No lifetime given: rely on the resource servers to say "expired".
	return now.Add(maxDuration)
}

// api calls a resource server with the session's access token. A 401 is a
// verification failure, split by the server's "kind"; a 200 must name the
// session's own user.
func (w *worker) api(ctx context.Context) time.Duration {
	tgt, tok := w.tgt, w.s.access[w.tgt.key()]
	w.tgt = w.r.target()
	h := http.Header{"Authorization": {"Bearer " + tok.raw}}
	resp := send(ctx, w.r.client, http.MethodGet, tgt.url(), nil, h)
	failure := failureOf(resp, http.StatusOK)
	var e errorBody
	if resp.err == nil && resp.status == http.StatusUnauthorized {
		e = parseError(resp.body)
		if e.Kind != "" {
			failure += " (" + e.Kind + ")"
		}
	}
	if failure == "" {
		var me struct {
			Sub   string `json:"sub"`
			Email string `json:"email"`
		}
		switch {
		case json.Unmarshal(resp.body, &me) != nil:
			failure = "bad_response"
		case !strings.EqualFold(me.Email, w.s.email) || (w.s.userID != "" && me.Sub != w.s.userID):
			failure = "identity_mismatch"
			w.r.stats.identityMismatches.Add(1)
		}
	}
	backoff := w.finish(ctx, opAPI, resp, failure)
	if resp.err == nil && resp.status == http.StatusUnauthorized {
		w.r.stats.verifyFailed(e.Kind)
		tok.stale = true
	}
	return backoff
}

// jwks fetches the key set, conditionally when --jwks-if-none-match is set.
func (w *worker) jwks(ctx context.Context) time.Duration {
	iss := w.r.issuer()
	h := http.Header{}
	etag := w.etags[iss]
	if w.r.cfg.jwksETag && etag != "" {
		h.Set("If-None-Match", etag)
	}
	resp := send(ctx, w.r.client, http.MethodGet, iss+"/.well-known/jwks.json", nil, h)
	failure := failureOf(resp, http.StatusOK)
	notModified := resp.err == nil && resp.status == http.StatusNotModified && h.Get("If-None-Match") != ""
	switch {
	case notModified:
		failure = ""
		w.r.stats.jwksNotModified.Add(1)
	case failure == "":
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(resp.body, &set) != nil || set.Keys == nil {
			failure = "bad_response"
			break
		}
		w.r.stats.jwksFull.Add(1)
		if t := resp.header.Get("ETag"); t != "" {
			w.etags[iss] = t
		}
	}
	return w.finish(ctx, opJWKS, resp, failure)
}
