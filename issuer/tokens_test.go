package issuer

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

func TestTokensVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	now := time.Unix(1_700_000_000, 0)
	v := &Tokens{issuer: "https://issuer.test", audience: []string{"https://api.test"}, now: func() time.Time { return now }, maxLife: verifier.DefaultMaxTokenLifetime}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{
		"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": "k1", "alg": "EdDSA", "use": "sig",
	}}})
	v.load(keys.JWKS{Body: jwks})

	header := func() map[string]any { return map[string]any{"alg": "EdDSA", "kid": "k1", "typ": "at+jwt"} }
	claims := func() map[string]any {
		return map[string]any{"iss": "https://issuer.test", "sub": "u1", "aud": []string{"https://api.test"},
			"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(), "sid": "s1"}
	}
	sign := func(h, c map[string]any) string {
		hb, _ := json.Marshal(h)
		cb, _ := json.Marshal(c)
		in := b64(hb) + "." + b64(cb)
		return in + "." + b64(ed25519.Sign(priv, []byte(in)))
	}
	with := func(f func(h, c map[string]any)) string {
		h, c := header(), claims()
		f(h, c)
		return sign(h, c)
	}
	valid := sign(header(), claims())
	parts := strings.Split(valid, ".")

	good := map[string]string{
		"valid":           valid,
		"typ with prefix": with(func(h, _ map[string]any) { h["typ"] = "application/at+jwt" }),
		"typ upper case":  with(func(h, _ map[string]any) { h["typ"] = "AT+JWT" }),
		"aud string":      with(func(_, c map[string]any) { c["aud"] = "https://api.test" }),
		"expired in leeway": with(func(_, c map[string]any) {
			c["iat"], c["exp"] = now.Add(-15*time.Minute).Unix(), now.Add(-29*time.Second).Unix()
		}),
		"no nbf":             with(func(_, c map[string]any) { delete(c, "nbf") }),
		"iat just in future": with(func(_, c map[string]any) { c["iat"] = now.Add(20 * time.Second).Unix() }),
	}
	for name, tok := range good {
		got, err := v.Verify(context.Background(), tok)
		if err != nil || got.Subject != "u1" || got.SessionID != "s1" {
			t.Errorf("%s: %v %+v", name, err, got)
		}
	}

	bad := map[string]string{
		"typ JWT":        with(func(h, _ map[string]any) { h["typ"] = "JWT" }),
		"no typ":         with(func(h, _ map[string]any) { delete(h, "typ") }),
		"alg none":       with(func(h, _ map[string]any) { h["alg"] = "none" }),
		"alg HS256":      with(func(h, _ map[string]any) { h["alg"] = "HS256" }),
		"alg mismatch":   with(func(h, _ map[string]any) { h["alg"] = "RS256" }),
		"unknown kid":    with(func(h, _ map[string]any) { h["kid"] = "k2" }),
		"jku header":     with(func(h, _ map[string]any) { h["jku"] = "https://evil.test/jwks" }),
		"crit header":    with(func(h, _ map[string]any) { h["crit"] = []string{"exp"} }),
		"b64 header":     with(func(h, _ map[string]any) { h["b64"] = false }),
		"no exp":         with(func(_, c map[string]any) { delete(c, "exp") }),
		"exp zero":       with(func(_, c map[string]any) { c["exp"] = 0 }),
		"expired":        with(func(_, c map[string]any) { c["exp"] = now.Add(-31 * time.Second).Unix() }),
		"no iat":         with(func(_, c map[string]any) { delete(c, "iat") }),
		"iat in future":  with(func(_, c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() }),
		"nbf in future":  with(func(_, c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() }),
		"no iss":         with(func(_, c map[string]any) { delete(c, "iss") }),
		"wrong iss":      with(func(_, c map[string]any) { c["iss"] = "https://evil.test" }),
		"no aud":         with(func(_, c map[string]any) { delete(c, "aud") }),
		"wrong aud":      with(func(_, c map[string]any) { c["aud"] = []string{"https://other.test"} }),
		"no sub":         with(func(_, c map[string]any) { delete(c, "sub") }),
		"bad signature":  parts[0] + "." + parts[1] + "." + b64(make([]byte, 64)),
		"other payload":  parts[0] + "." + b64([]byte(`{"sub":"admin"}`)) + "." + parts[2],
		"four parts":     valid + ".x",
		"padded":         parts[0] + "." + parts[1] + "." + parts[2] + "==",
		"std base64":     strings.NewReplacer("-", "+", "_", "/").Replace(valid),
		"JSON serialize": `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`,
		"too large":      valid + strings.Repeat("A", verifier.DefaultMaxTokenSize),
		"empty":          "",
	}
	for name, tok := range bad {
		if name == "std base64" && tok == valid {
			continue // nothing to replace in this token
		}
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, errTokenRejected) || KindOf(err) != KindInvalidToken {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
}

func TestRefreshTokenFormat(t *testing.T) {
	sid := newSessionID()
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok := mintRefreshToken(secret, sid, 7)
	if len(tok) != refreshTokenBytes || refreshTokenBytes != 82 {
		t.Fatalf("token length %d (constant %d)", len(tok), refreshTokenBytes)
	}
	p, ok := parseRefreshToken(tok)
	if !ok || p.sid != sid || p.counter != 7 || string(p.mac) != string(refreshMAC(secret, sid, 7)) {
		t.Fatalf("parse = %+v %v", p, ok)
	}
	// The MAC binds the counter and the session.
	if string(refreshMAC(secret, sid, 8)) == string(p.mac) {
		t.Fatal("MAC does not depend on the counter")
	}
	// The last character carries 2 unused bits: setting one spells the
	// same bytes differently, and must not parse.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	alt := tok[:len(tok)-1] + string(alphabet[last|1])
	if alt == tok {
		alt = tok[:len(tok)-1] + string(alphabet[last&^3|2])
	}
	if _, ok := parseRefreshToken(alt); ok {
		t.Fatal("a second spelling of the token parses")
	}
}

func TestRefreshToken2Format(t *testing.T) {
	sid := newSessionID()
	key := []byte("0123456789abcdef0123456789abcdef")
	tok := mintRefreshToken2(key, 1, sid, 7)
	if len(tok) != refresh2TokenBytes || refresh2TokenBytes != 88 || !strings.HasPrefix(tok, "sgt_rt2_") {
		t.Fatalf("token %q (length constant %d)", tok, refresh2TokenBytes)
	}
	p, ok := parseRefreshToken(tok)
	if !ok || !p.v2 || p.kid != 1 || p.sid != sid || p.counter != 7 || string(p.mac) != string(refreshMAC2(key, 1, sid, 7)) {
		t.Fatalf("parse = %+v %v", p, ok)
	}
	// The MAC binds the key id, the session and the counter.
	other := newSessionID()
	for name, m := range map[string][]byte{
		"counter": refreshMAC2(key, 1, sid, 8), "key id": refreshMAC2(key, 2, sid, 7), "session": refreshMAC2(key, 1, other, 7),
	} {
		if string(m) == string(p.mac) {
			t.Fatalf("MAC does not depend on the %s", name)
		}
	}
	// A first-format token of the same bytes is not a second-format one.
	if _, ok := parseRefreshToken("sgt_rt_" + tok[len("sgt_rt2_"):]); ok {
		t.Fatal("the body of a current token parses under the first prefix")
	}
}

func FuzzParseRefreshToken(f *testing.F) {
	f.Add(mintRefreshToken(make([]byte, 32), newSessionID(), 1))
	f.Add(mintRefreshToken2(make([]byte, 32), 1, newSessionID(), 1))
	f.Add("sgt_rt2_" + strings.Repeat("_", 80))
	f.Add("sgt_rt_")
	f.Add("sgt_rt_" + strings.Repeat("_", 75))
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := parseRefreshToken(s)
		if !ok {
			return
		}
		// Whatever parses is the one canonical spelling of its bytes.
		raw := append(append(p.sid[:], binary.BigEndian.AppendUint64(nil, p.counter)...), p.mac...)
		prefix := refreshPrefix
		if p.v2 {
			raw, prefix = append(binary.BigEndian.AppendUint32(nil, p.kid), raw...), refresh2Prefix
		}
		if prefix+base64.RawURLEncoding.EncodeToString(raw) != s {
			t.Fatalf("%q parses but is not canonical", s)
		}
	})
}

// TestVerifyForFollowsTheKeySet: VerifyFor keeps one verifier per
// resource for the published set, and a new set replaces them: a token of
// a key that left the set is refused at once, and a key that joined it
// verifies.
func TestVerifyForFollowsTheKeySet(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	v := &Tokens{issuer: "https://issuer.test", audience: []string{"https://issuer.test"}, now: func() time.Time { return now }, maxLife: verifier.DefaultMaxTokenLifetime}
	b64 := base64.RawURLEncoding.EncodeToString
	type key struct {
		kid  string
		priv ed25519.PrivateKey
		jwk  map[string]string
	}
	newKey := func(kid string) key {
		pub, priv, _ := ed25519.GenerateKey(nil)
		return key{kid, priv, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": b64(pub), "kid": kid, "alg": "EdDSA", "use": "sig"}}
	}
	publish := func(ks ...key) {
		var list []any
		for _, k := range ks {
			list = append(list, k.jwk)
		}
		body, _ := json.Marshal(map[string]any{"keys": list})
		v.load(keys.JWKS{Body: body})
	}
	sign := func(k key) string {
		hb, _ := json.Marshal(map[string]any{"alg": "EdDSA", "kid": k.kid, "typ": "at+jwt"})
		cb, _ := json.Marshal(map[string]any{"iss": "https://issuer.test", "sub": "u1", "aud": "https://shop.test",
			"exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "sid": "s1"})
		in := b64(hb) + "." + b64(cb)
		return in + "." + b64(ed25519.Sign(k.priv, []byte(in)))
	}
	ctx := context.Background()
	k1, k2 := newKey("k1"), newKey("k2")
	publish(k1)
	for range 2 { // the second call uses the kept verifier
		if _, err := v.VerifyFor(ctx, sign(k1), "https://shop.test"); err != nil {
			t.Fatalf("k1 with k1 published: %v", err)
		}
	}
	if _, err := v.VerifyFor(ctx, sign(k2), "https://shop.test"); err == nil {
		t.Fatal("k2 verified before it was published")
	}
	publish(k2) // k1 removed (or revoked)
	if _, err := v.VerifyFor(ctx, sign(k1), "https://shop.test"); err == nil {
		t.Fatal("k1 still verifies after it left the set")
	}
	if _, err := v.VerifyFor(ctx, sign(k2), "https://shop.test"); err != nil {
		t.Fatalf("k2 after it was published: %v", err)
	}
	if _, err := v.VerifyFor(ctx, sign(k2), "https://video.test"); err == nil {
		t.Fatal("a shop token verified for another resource")
	}
}
