package verifier

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Verifier verifies access tokens. It is safe for concurrent use. Create it
// once with New and share it.
type Verifier struct {
	cfg     *settings
	keys    *keyCache
	buffers sync.Pool // *[]byte scratch space for decoding

	// revoked is the revocation feed's state (nil without a feed);
	// stopRevocations stops following it.
	revoked         *revocations
	stopRevocations func()

	cancel context.CancelFunc // stops the refresh goroutine; nil for static keys
	done   chan struct{}      // closed when the refresh goroutine has returned
	once   sync.Once
}

// New returns a Verifier for cfg. Unless cfg.Lazy is set or the key set is
// static, it fetches the key set before returning (after discovery when
// cfg.JWKSURL is empty) and fails if it cannot.
//
// A remote key set is then refreshed by a background goroutine, which stops
// when ctx is done or Close is called: pass a long-lived context, not a
// request's. After that the last key set stays in use until MaxStaleness.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	s, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: s}
	bufSize := 2 * s.MaxTokenSize
	v.buffers.New = func() any {
		b := make([]byte, 0, bufSize)
		return &b
	}
	retry := s.UnknownKIDCooldown
	v.keys = &keyCache{
		now:            s.Now,
		maxStaleness:   s.MaxStaleness,
		cooldown:       s.UnknownKIDCooldown,
		wait:           s.UnknownKIDWait,
		trigger:        make(chan struct{}, 1),
		errNoKeySet:    &KeySetUnavailableError{RetryAfter: retry, reason: reasonNoKeySet},
		errStaleKeySet: &KeySetUnavailableError{RetryAfter: retry, reason: reasonStaleKeySet},
	}

	if s.StaticKeys != nil || s.StaticJWKS != nil {
		var keys map[string]*publicKey
		if s.StaticKeys != nil {
			keys = usableKeys(keysOfSet(s.StaticKeys), s.allowed, s.Logger)
		} else if keys, err = parseJWKS(s.StaticJWKS, s.allowed, s.Logger); err != nil {
			return nil, fmt.Errorf("verifier: config: StaticJWKS: %w", err)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("verifier: config: the static key set has no usable key")
		}
		v.keys.static = true
		v.keys.current.Store(&keySnapshot{keys: keys, fetched: s.Now()})
		v.startRevocations(ctx, s)
		return v, nil
	}

	f := &fetcher{
		client:        s.HTTPClient,
		issuer:        s.Issuer,
		jwksURL:       s.JWKSURL,
		maxBody:       s.MaxJWKSSize,
		allowed:       s.allowed,
		allowInsecure: s.AllowInsecureHTTP,
		minEvery:      s.MinRefreshInterval,
		maxEvery:      s.MaxRefreshInterval,
		now:           s.Now,
		log:           s.Logger,
	}
	var next time.Duration // Lazy: first fetch at once, in the background
	if !s.Lazy {
		snap, n, err := f.fetch(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("verifier: first key set fetch: %w", err)
		}
		v.keys.current.Store(snap)
		next = n
	}
	v.startRevocations(ctx, s)
	ctx, v.cancel = context.WithCancel(ctx)
	v.done = make(chan struct{})
	go func() {
		defer close(v.done)
		v.keys.run(ctx, f, next)
	}()
	return v, nil
}

// Close stops the background refresh and waits for it to end. Verify keeps
// working with the last key set (until MaxStaleness). Close is idempotent.
func (v *Verifier) Close() error {
	v.once.Do(func() {
		if v.stopRevocations != nil {
			v.stopRevocations()
		}
		if v.cancel != nil {
			v.cancel()
			<-v.done
		}
	})
	return nil
}

// strictBase64 refuses padding and non-zero trailing bits. It still skips
// CR and LF, so callers check the alphabet first (isBase64URL).
var strictBase64 = base64.RawURLEncoding.Strict()

// Verify checks raw, a compact JWS access token, and returns its claims.
// It does no network I/O except, when Config.UnknownKIDWait is set, waiting
// briefly for a shared key refresh. Errors wrap the package's sentinel
// errors (see ErrorKind); an expired token gives a *TokenExpiredError.
//
// The order matters: structure and header first, then the signature, then
// the claims, so "expired" or "wrong audience" is only ever said of a
// genuine token and a forged one always reads as a signature or key error.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if len(raw) > v.cfg.MaxTokenSize {
		return nil, errTooLarge
	}
	// Exactly three non-empty parts. This also refuses the JSON
	// serialisations, which start with '{' and have no dots in place.
	d1 := strings.IndexByte(raw, '.')
	if d1 <= 0 {
		return nil, errNotCompact
	}
	d2 := d1 + 1 + strings.IndexByte(raw[d1+1:], '.')
	if d2 <= d1+1 || d2 == len(raw)-1 || strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return nil, errNotCompact
	}
	if !isBase64URL(raw[:d1]) || !isBase64URL(raw[d1+1:d2]) || !isBase64URL(raw[d2+1:]) {
		return nil, errBadBase64
	}

	bp := v.buffers.Get().(*[]byte)
	defer v.buffers.Put(bp)
	if need := 2 * len(raw); cap(*bp) < need {
		*bp = make([]byte, 0, need)
	}
	// buf holds the token's bytes, then the decoded header, payload and
	// signature, one after the other.
	buf := append((*bp)[:0], raw...)
	signingInput := buf[:d2]
	header, ok := decodePart(&buf, d1, 0)
	if !ok {
		return nil, errBadBase64
	}
	h, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if !v.cfg.allowed.has(h.alg) {
		return nil, errAlgNotAllowed
	}

	snap, err := v.keys.lookup()
	if err != nil {
		v.keys.refreshAndWait(ctx)
		if snap, err = v.keys.lookup(); err != nil {
			return nil, err
		}
	}
	key := snap.keys[string(h.kid)]
	if key == nil {
		key, err = v.unknownKey(ctx, &buf, d1, d2, h.kid)
		if err != nil {
			return nil, err
		}
	}
	if key.alg != h.alg {
		return nil, errAlgKeyMismatch
	}

	payload, ok := decodePart(&buf, d2, d1+1)
	if !ok {
		return nil, errBadBase64
	}
	sig, ok := decodePart(&buf, len(raw), d2+1)
	if !ok {
		return nil, errBadBase64
	}
	if !key.verify(signingInput, sig) {
		return nil, ErrBadSignature
	}
	c, ok := parseClaims(payload)
	if !ok {
		return nil, errBadPayload
	}
	if err := v.checkClaims(c); err != nil {
		return nil, err
	}
	if v.revoked != nil {
		if err := v.revoked.check(&c.Claims); err != nil {
			return nil, err
		}
	}
	return &c.Claims, nil
}

// unknownKey handles a kid that is not in the key set. A refresh is asked
// for only if the unverified claims could belong to a valid token for us
// (issuer, audience, not expired), so junk tokens cost no fetch; the
// cooldown in requestRefresh bounds the rest.
func (v *Verifier) unknownKey(ctx context.Context, buf *[]byte, d1, d2 int, kid []byte) (*publicKey, error) {
	if len(kid) == 0 {
		return nil, errNoKID
	}
	payload, ok := decodePart(buf, d2, d1+1)
	if !ok {
		return nil, errBadBase64
	}
	c, ok := parseClaims(payload)
	if !ok || v.checkIssuerAudience(c) != nil || !v.cfg.Now().Before(c.Expiry.Add(v.cfg.Leeway)) {
		return nil, errKIDNotFound
	}
	v.keys.refreshAndWait(ctx)
	snap, err := v.keys.lookup()
	if err != nil {
		return nil, err
	}
	if key := snap.keys[string(kid)]; key != nil {
		return key, nil
	}
	return nil, errKIDNotFound
}

// decodePart decodes (*buf)[from:to], a part of the token copied at the
// start of *buf, and appends the result to *buf, returning it.
func decodePart(buf *[]byte, to, from int) ([]byte, bool) {
	n := len(*buf)
	out, err := strictBase64.AppendDecode(*buf, (*buf)[from:to])
	if err != nil {
		return nil, false
	}
	*buf = out
	return out[n:], true
}

// isBase64URL reports whether s is non-empty and only uses the base64url
// alphabet: no padding, no '+' or '/', no whitespace.
func isBase64URL(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// jwsHeader is what Verify needs from the protected header.
type jwsHeader struct {
	alg algorithm
	kid []byte
}

// parseHeader reads the protected header strictly. Only alg, kid and typ are
// interpreted; parameters that change how a token is processed or point at
// other keys (crit, b64, cty, zip, enc, jwk, jku, x5u, x5c, x5t, x5t#S256)
// are refused rather than ignored: the issuer never sets them.
func parseHeader(data []byte) (jwsHeader, error) {
	var h jwsHeader
	var algSeen, typOK bool
	var forbidden bool
	ok := walkObject(data, func(name []byte, v jsonValue) bool {
		switch string(name) {
		case "alg", "kid", "typ":
			if v.kind != jsonString {
				return false
			}
			s := data[v.start:v.end]
			if v.escaped {
				var ok bool
				if s, ok = unquote(nil, s); !ok {
					return false
				}
			}
			switch name[0] {
			case 'a':
				algSeen, h.alg = true, parseAlg(s)
			case 'k':
				h.kid = s
			case 't':
				typOK = bytes.EqualFold(s, []byte("at+jwt")) || bytes.EqualFold(s, []byte("application/at+jwt"))
			}
		case "crit", "b64", "cty", "zip", "enc", "jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256":
			forbidden = true
		}
		return true
	})
	switch {
	case !ok:
		return h, errBadHeader
	case forbidden:
		return h, errForbiddenHeader
	case !algSeen:
		return h, errNoAlg
	case h.alg == 0:
		return h, errAlgNotAllowed
	case !typOK:
		return h, errBadTyp
	case len(h.kid) == 0:
		return h, errNoKID
	}
	return h, nil
}
