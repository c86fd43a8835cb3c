package issuer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/signet-auth/signet/keys"
)

// accessTokenVerifier checks an access token presented to the issuer's own
// endpoints (sign-out, /v1/me). It is the seam where verifier.Verifier
// will plug in once that package lands.
type accessTokenVerifier interface {
	Verify(ctx context.Context, raw string) (*accessClaims, error)
}

// accessClaims are the verified claims the issuer uses.
type accessClaims struct {
	Subject   string
	SessionID string
}

const (
	maxAccessTokenBytes = 8 << 10
	accessLeeway        = 30 * time.Second
)

// errTokenRejected is the one error of keyringVerifier; the wrapped text
// says why, for the log only.
var errTokenRejected = errors.New("access token rejected")

// keyringVerifier verifies access tokens against the keys this replica
// publishes in its JWK set, with the checks the token contract promises:
// compact JWS only, an allowlisted alg equal to the key's, typ at+jwt, a
// known kid, exp/iat/iss/aud/sub required, 30s leeway. It uses the
// standard library for the signature, so none of jwx's lenient parsing
// applies.
type keyringVerifier struct {
	issuer   string
	audience []string
	now      func() time.Time
	set      atomic.Pointer[map[string]publicKey] // by kid
}

type publicKey struct {
	alg string
	key crypto.PublicKey
}

func newKeyringVerifier(ring *keys.Keyring, issuer string, audience []string, now func() time.Time) *keyringVerifier {
	v := &keyringVerifier{issuer: issuer, audience: audience, now: now}
	empty := map[string]publicKey{}
	v.set.Store(&empty)
	if ring != nil {
		ring.OnSetChange(v.load)
	}
	return v
}

// load replaces the key set with the keys of a published JWK set.
func (v *keyringVerifier) load(set keys.JWKS) {
	parsed, err := jwk.Parse(set.Body)
	if err != nil {
		return // the keyring serialised it; keep the last good set
	}
	m := map[string]publicKey{}
	for i := range parsed.Len() {
		k, _ := parsed.Key(i)
		alg := k.Algorithm().String()
		var pk crypto.PublicKey
		switch alg {
		case keys.EdDSA:
			var raw ed25519.PublicKey
			if k.Raw(&raw) != nil {
				continue
			}
			pk = raw
		case keys.RS256:
			var raw rsa.PublicKey
			if k.Raw(&raw) != nil || raw.N.BitLen() < 2048 {
				continue
			}
			pk = &raw
		default:
			continue
		}
		m[k.KeyID()] = publicKey{alg: alg, key: pk}
	}
	v.set.Store(&m)
}

func reject(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errTokenRejected, fmt.Sprintf(format, args...))
}

func (v *keyringVerifier) Verify(_ context.Context, raw string) (*accessClaims, error) {
	if len(raw) > maxAccessTokenBytes {
		return nil, reject("longer than %d bytes", maxAccessTokenBytes)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return nil, reject("not a compact JWS")
	}
	dec := base64.RawURLEncoding.Strict()
	hb, err1 := dec.DecodeString(parts[0])
	payload, err2 := dec.DecodeString(parts[1])
	sig, err3 := dec.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, reject("not base64url without padding")
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, reject("header is not a JSON object")
	}
	var alg, kid, typ string
	for name, val := range h {
		var s string
		if err := json.Unmarshal(val, &s); err != nil {
			return nil, reject("header %q is not a string", name)
		}
		switch name {
		case "alg":
			alg = s
		case "kid":
			kid = s
		case "typ":
			typ = s
		default:
			// crit, b64, jku, jwk, x5u, x5c, cty...: the issuer never sets
			// them, and honouring any of them changes what is verified.
			return nil, reject("unexpected header %q", name)
		}
	}
	if alg != keys.EdDSA && alg != keys.RS256 {
		return nil, reject("alg %q not allowed", alg)
	}
	if !isAccessTokenType(typ) {
		return nil, reject("typ %q is not at+jwt", typ)
	}
	k, ok := (*v.set.Load())[kid]
	if !ok {
		return nil, reject("unknown kid")
	}
	if k.alg != alg {
		return nil, reject("alg %s does not match the key's %s", alg, k.alg)
	}
	input := raw[:len(parts[0])+1+len(parts[1])]
	switch pk := k.key.(type) {
	case ed25519.PublicKey:
		ok = ed25519.Verify(pk, []byte(input), sig)
	case *rsa.PublicKey:
		sum := sha256.Sum256([]byte(input))
		ok = rsa.VerifyPKCS1v15(pk, crypto.SHA256, sum[:], sig) == nil
	}
	if !ok {
		return nil, reject("bad signature")
	}
	return v.checkClaims(payload)
}

func isAccessTokenType(typ string) bool {
	mt, params, err := mime.ParseMediaType(typ)
	if err != nil || len(params) > 0 {
		return false
	}
	return mt == "at+jwt" || mt == "application/at+jwt"
}

func (v *keyringVerifier) checkClaims(payload []byte) (*accessClaims, error) {
	var c struct {
		Iss *string         `json:"iss"`
		Sub *string         `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *int64          `json:"exp"`
		Iat *int64          `json:"iat"`
		Nbf *int64          `json:"nbf"`
		Sid string          `json:"sid"`
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	if err := d.Decode(&c); err != nil {
		return nil, reject("claims are not a JSON object")
	}
	switch {
	case c.Iss == nil || c.Sub == nil || c.Aud == nil || c.Exp == nil || c.Iat == nil:
		return nil, reject("a required claim (iss, sub, aud, exp, iat) is missing")
	case *c.Iss != v.issuer:
		return nil, reject("wrong issuer")
	case *c.Sub == "":
		return nil, reject("empty sub")
	}
	var auds []string
	if err := json.Unmarshal(c.Aud, &auds); err != nil {
		var one string
		if err := json.Unmarshal(c.Aud, &one); err != nil {
			return nil, reject("aud is neither a string nor a list of strings")
		}
		auds = []string{one}
	}
	if !slices.ContainsFunc(auds, func(a string) bool { return slices.Contains(v.audience, a) }) {
		return nil, reject("wrong audience")
	}
	now := v.now()
	switch {
	case !now.Before(time.Unix(*c.Exp, 0).Add(accessLeeway)):
		return nil, reject("expired")
	case time.Unix(*c.Iat, 0).After(now.Add(accessLeeway)):
		return nil, reject("issued in the future")
	case c.Nbf != nil && time.Unix(*c.Nbf, 0).After(now.Add(accessLeeway)):
		return nil, reject("not yet valid")
	}
	return &accessClaims{Subject: *c.Sub, SessionID: c.Sid}, nil
}

const (
	claimsKey  = "signet.claims"
	sessionKey = "signet.session"
	userKey    = "signet.user"
)

// requireAccessToken authenticates the request's bearer access token, and
// checks with one indexed lookup that its session is still live, so that
// sign-out takes effect at once on the issuer's own endpoints.
func (s *Server) requireAccessToken() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.GetHeader("Authorization")
		if h == "" {
			// RFC 6750 §3.1: no error code when no credentials were sent.
			c.Header("WWW-Authenticate", "Bearer")
			fail(c, &Error{Code: "invalid_token", Description: "an access token is required (Authorization: Bearer <token>)"})
			return
		}
		scheme, raw, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || raw == "" || strings.ContainsAny(raw, " \t") {
			fail(c, apiError("invalid_request", "the Authorization header must be: Bearer <token>"))
			return
		}
		bad := apiError("invalid_token", "the access token is invalid or expired")
		claims, err := s.access.Verify(c.Request.Context(), raw)
		if err != nil {
			if !errors.Is(err, errTokenRejected) {
				fail(c, err)
				return
			}
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", err.Error())
			fail(c, bad)
			return
		}
		if claims.SessionID == "" {
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", "no sid")
			fail(c, bad)
			return
		}
		sess, u, err := s.store.SessionWithUser(c.Request.Context(), claims.SessionID)
		switch {
		case errors.Is(err, ErrNotFound):
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", "unknown session", "session_id", claims.SessionID)
			fail(c, bad)
			return
		case err != nil:
			fail(c, err)
			return
		}
		if reason := sessionUnusable(sess, s.now()); reason != "" || sess.UserID != claims.Subject {
			if reason == "" {
				reason = "session of another user"
			}
			logger(c).InfoContext(c.Request.Context(), "access token rejected", "reason", reason, "session_id", sess.ID)
			fail(c, bad)
			return
		}
		c.Set(claimsKey, claims)
		c.Set(sessionKey, sess)
		c.Set(userKey, u)
		c.Next()
	}
}

// sessionUnusable says why a session can no longer be used, or "".
func sessionUnusable(sess Session, now time.Time) string {
	switch {
	case sess.Revoked():
		return "session revoked"
	case !now.Before(sess.AbsoluteExpiresAt):
		return "session past its absolute lifetime"
	}
	return ""
}
