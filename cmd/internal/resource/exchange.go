package resource

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

const cryptoSHA256 = crypto.SHA256

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// RFC 8693 and RFC 7523 names.
const (
	grantTokenExchange  = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess     = "urn:ietf:params:oauth:token-type:access_token"
	jwtBearerAssertion  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	assertionLife       = time.Minute
	maxTokenReplyBytes  = 64 << 10
	tokenRequestTimeout = 10 * time.Second
)

// Exchanger trades a user's access token meant for this server for one
// meant for another resource (RFC 8693 token exchange), authenticating as
// a confidential client with private_key_jwt (RFC 7523): no secret is
// shared with the issuer, which knows only the public key.
type Exchanger struct {
	Issuer   string // the issuer URL: the assertion's aud and the token endpoint's base
	ClientID string // this server's client id in the issuer's registry
	Key      ClientKey
	HTTP     *http.Client // nil: a client with a 10 s timeout
	Now      func() time.Time
}

// ExchangedToken is the issuer's answer.
type ExchangedToken struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	ExpiresIn   int    `json:"expires_in"`
}

// ExchangeError is the issuer refusing an exchange: its status and
// RFC 6749 §5.2 error code.
type ExchangeError struct {
	Status      int
	Code        string
	Description string
}

func (e *ExchangeError) Error() string {
	return fmt.Sprintf("token exchange refused: %d %s: %s", e.Status, e.Code, e.Description)
}

// Exchange asks the issuer for a token toward resource with scope (space
// separated; the issuer grants no more than the registry and the user's
// roles allow), for the user of subjectToken.
func (x *Exchanger) Exchange(ctx context.Context, subjectToken, resource, scope string) (ExchangedToken, error) {
	assertion, err := x.assertion()
	if err != nil {
		return ExchangedToken{}, err
	}
	form := url.Values{
		"grant_type":            {grantTokenExchange},
		"subject_token":         {subjectToken},
		"subject_token_type":    {tokenTypeAccess},
		"resource":              {resource},
		"client_assertion_type": {jwtBearerAssertion},
		"client_assertion":      {assertion},
	}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(x.Issuer, "/")+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return ExchangedToken{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hc := x.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: tokenRequestTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ExchangedToken{}, fmt.Errorf("token exchange: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenReplyBytes))
	if err != nil {
		return ExchangedToken{}, fmt.Errorf("token exchange: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &e)
		return ExchangedToken{}, &ExchangeError{Status: resp.StatusCode, Code: e.Error, Description: e.Description}
	}
	var t ExchangedToken
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return ExchangedToken{}, fmt.Errorf("token exchange: unreadable answer (%d bytes)", len(body))
	}
	return t, nil
}

// assertion is a one-minute client assertion with a fresh jti, signed
// with the raw key (the kid is set here, not taken from a JWK).
func (x *Exchanger) assertion() (string, error) {
	now := time.Now()
	if x.Now != nil {
		now = x.Now()
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	tok, err := jwt.NewBuilder().Issuer(x.ClientID).Subject(x.ClientID).Audience([]string{x.Issuer}).
		IssuedAt(now).Expiration(now.Add(assertionLife)).JwtID(b64url(jti[:])).Build()
	if err != nil {
		return "", err
	}
	h := jws.NewHeaders()
	if err := h.Set(jws.KeyIDKey, x.Key.KID); err != nil {
		return "", err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, x.Key.Private, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
