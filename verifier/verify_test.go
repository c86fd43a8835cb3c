package verifier

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

type ruleFixture struct {
	v        *Verifier
	ed, rsa  *testKey
	attacker *testKey // not in the key set
}

func newRuleFixture(t *testing.T) *ruleFixture {
	t.Helper()
	f := &ruleFixture{ed: newEdKey(t), rsa: newRSAKey(t, 2048, false), attacker: newEdKey(t)}
	v, err := New(context.Background(), Config{
		Issuer:     testIssuer,
		Audience:   testAudience,
		StaticJWKS: jwksOf(t, f.ed.pub, f.rsa.pub),
		Now:        func() time.Time { return testNow },
	})
	must(t, err)
	f.v = v
	return f
}

// replacePart swaps part i (0 header, 1 payload, 2 signature) of tok.
func replacePart(tok string, i int, part string) string {
	parts := strings.Split(tok, ".")
	parts[i] = part
	return strings.Join(parts, ".")
}

// hs256 signs header.claims with HMAC-SHA256 under secret.
func hs256(t *testing.T, header, claims any, secret []byte) string {
	in := b64(toJSON(t, header)) + "." + b64(toJSON(t, claims))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// TestVerifyRules checks each rule with a token that breaks only that rule.
func TestVerifyRules(t *testing.T) {
	f := newRuleFixture(t)
	ed, rs, now := f.ed, f.rsa, testNow
	good := ed.token(t, now, nil)
	claims := claimsAt(now, nil)
	goodRSA := rs.token(t, now, nil)

	// jwx-made tokens: the issuer's contract built with another library.
	jwxToken := func() string {
		tok := jwt.New()
		for k, v := range claims {
			must(t, tok.Set(k, v))
		}
		hdr := jws.NewHeaders()
		must(t, hdr.Set(jws.KeyIDKey, ed.kid))
		must(t, hdr.Set(jws.TypeKey, "at+jwt"))
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, ed.priv, jws.WithProtectedHeaders(hdr)))
		must(t, err)
		return string(signed)
	}()
	payload := toJSON(t, claims)
	jsonGeneral := func() string {
		hdr := jws.NewHeaders()
		must(t, hdr.Set(jws.KeyIDKey, ed.kid))
		must(t, hdr.Set(jws.TypeKey, "at+jwt"))
		out, err := jws.Sign(payload, jws.WithJSON(), jws.WithKey(jwa.EdDSA, ed.priv, jws.WithProtectedHeaders(hdr)))
		must(t, err)
		return string(out)
	}()
	jsonFlattened := func() string {
		parts := strings.Split(good, ".")
		b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
		return string(b)
	}()
	// A token whose signature, in base64url, uses '-' or '_', so that its
	// standard-alphabet spelling differs.
	stdAlphabet := func() string {
		for i := 0; ; i++ {
			tok := ed.token(t, now, map[string]any{"jti": "tok-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)})
			sig := tok[strings.LastIndexByte(tok, '.')+1:]
			if strings.ContainsAny(sig, "-_") {
				raw, _ := base64.RawURLEncoding.DecodeString(sig)
				return replacePart(tok, 2, base64.RawStdEncoding.EncodeToString(raw))
			}
		}
	}()
	padded := func() string {
		for i := 0; ; i++ {
			tok := ed.token(t, now, map[string]any{"jti": strings.Repeat("p", i)})
			p := strings.Split(tok, ".")[1]
			if len(p)%4 != 0 {
				raw, _ := base64.RawURLEncoding.DecodeString(p)
				return replacePart(tok, 1, base64.URLEncoding.EncodeToString(raw))
			}
		}
	}()
	pubPEM := func() []byte {
		der, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
		must(t, err)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}()
	attackerJWK, _ := json.Marshal(f.attacker.pub)
	var attackerJWKMap map[string]any
	must(t, json.Unmarshal(attackerJWK, &attackerJWKMap))

	tamperedPayload := replacePart(good, 1, b64(toJSON(t, claimsAt(now, map[string]any{"sub": "admin"}))))
	otherKeySameKID := f.attacker.craft(t, ed.header(nil), claims, "EdDSA")
	sigBytes, _ := base64.RawURLEncoding.DecodeString(strings.Split(good, ".")[2])
	flipped := append([]byte{}, sigBytes...)
	flipped[10] ^= 1

	tests := []struct {
		name string
		tok  string
		want error // nil: valid
	}{
		{"valid EdDSA", good, nil},
		{"valid RS256", goodRSA, nil},
		{"valid token made by jwx", jwxToken, nil},
		{"typ application/at+jwt", ed.craft(t, ed.header(map[string]any{"typ": "application/at+jwt"}), claims, "EdDSA"), nil},
		{"typ AT+JWT upper case", ed.craft(t, ed.header(map[string]any{"typ": "AT+JWT"}), claims, "EdDSA"), nil},
		{"aud as a string", ed.token(t, now, map[string]any{"aud": testAudience}), nil},
		{"exp within leeway", ed.token(t, now, map[string]any{"iat": now.Add(-15 * time.Minute).Unix(), "exp": now.Add(-10 * time.Second).Unix()}), nil},
		{"nbf within leeway", ed.token(t, now, map[string]any{"nbf": now.Add(20 * time.Second).Unix()}), nil},
		{"no nbf", ed.token(t, now, map[string]any{"nbf": nil}), nil},
		{"unknown claims ignored", ed.token(t, now, map[string]any{"extra": map[string]any{"a": []any{1, "x", nil}}}), nil},
		{"escaped strings", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `"sub":"user-42"`, `"sub":"user\u002d42"`, 1), "EdDSA"), nil},

		// serialisation
		{"json general serialisation", jsonGeneral, ErrMalformed},
		{"json flattened serialisation", jsonFlattened, ErrMalformed},
		{"two parts", good[:strings.LastIndexByte(good, '.')], ErrMalformed},
		{"four parts", good + ".AAAA", ErrMalformed},
		{"empty signature", good[:strings.LastIndexByte(good, '.')+1], ErrMalformed},
		{"empty header", good[strings.IndexByte(good, '.'):], ErrMalformed},
		{"trailing garbage", good + " x", ErrMalformed},
		{"trailing newline", good + "\n", ErrMalformed},
		{"newline inside", good[:20] + "\n" + good[20:], ErrMalformed},
		{"padded base64", padded, ErrMalformed},
		{"standard base64 alphabet", stdAlphabet, ErrMalformed},
		{"empty token", "", ErrMalformed},
		{"too large", ed.token(t, now, map[string]any{"pad": strings.Repeat("a", 8<<10)}), ErrMalformed},
		{"header not json", b64([]byte("alg=EdDSA")) + good[strings.IndexByte(good, '.'):], ErrMalformed},
		{"header is an array", ed.craft(t, `["EdDSA"]`, claims, "EdDSA"), ErrMalformed},
		{"header trailing data", ed.craft(t, `{"alg":"EdDSA","kid":"`+ed.kid+`","typ":"at+jwt"}{}`, claims, "EdDSA"), ErrMalformed},

		// alg
		{"alg none", ed.craft(t, ed.header(map[string]any{"alg": "none"}), claims, "EdDSA"), ErrDisallowedAlg},
		{"alg missing", ed.craft(t, ed.header(map[string]any{"alg": nil}), claims, "EdDSA"), ErrDisallowedAlg},
		{"alg not a string", ed.craft(t, ed.header(map[string]any{"alg": 1}), claims, "EdDSA"), ErrMalformed},
		{"HS256 with the ed25519 public key as secret", hs256(t, ed.header(map[string]any{"alg": "HS256"}), claims, []byte(ed.priv.Public().(ed25519.PublicKey))), ErrDisallowedAlg},
		{"HS256 with the rsa public key pem as secret", hs256(t, rs.header(map[string]any{"alg": "HS256"}), claims, pubPEM), ErrDisallowedAlg},
		{"RS256 header on an EdDSA kid", rs.craft(t, ed.header(map[string]any{"alg": "RS256"}), claims, "RS256"), ErrDisallowedAlg},
		{"EdDSA header on an RS256 kid", ed.craft(t, rs.header(map[string]any{"alg": "EdDSA"}), claims, "EdDSA"), ErrDisallowedAlg},
		{"PS256 header on an RS256 key", rs.craft(t, rs.header(map[string]any{"alg": "PS256"}), claims, "PS256"), ErrDisallowedAlg},
		{"ES256 not allowed by default", f.attacker.craft(t, ed.header(map[string]any{"alg": "ES256"}), claims, "EdDSA"), ErrDisallowedAlg},

		// typ
		{"typ missing", ed.craft(t, ed.header(map[string]any{"typ": nil}), claims, "EdDSA"), ErrMalformed},
		{"typ JWT", ed.craft(t, ed.header(map[string]any{"typ": "JWT"}), claims, "EdDSA"), ErrMalformed},
		{"typ with parameters", ed.craft(t, ed.header(map[string]any{"typ": "at+jwt; x=y"}), claims, "EdDSA"), ErrMalformed},

		// kid and keys named by the token
		{"kid missing", ed.craft(t, ed.header(map[string]any{"kid": nil}), claims, "EdDSA"), ErrUnknownKey},
		{"kid unknown", f.attacker.token(t, now, nil), ErrUnknownKey},
		{"attacker key embedded in jwk header", f.attacker.craft(t, f.attacker.header(map[string]any{"jwk": attackerJWKMap}), claims, "EdDSA"), ErrMalformed},
		{"attacker jwk header with a known kid", f.attacker.craft(t, ed.header(map[string]any{"jwk": attackerJWKMap}), claims, "EdDSA"), ErrMalformed},
		{"jku header", ed.craft(t, ed.header(map[string]any{"jku": "https://evil.test/jwks"}), claims, "EdDSA"), ErrMalformed},
		{"x5u header", ed.craft(t, ed.header(map[string]any{"x5u": "https://evil.test/cert"}), claims, "EdDSA"), ErrMalformed},
		{"x5c header", ed.craft(t, ed.header(map[string]any{"x5c": []string{"MIIB"}}), claims, "EdDSA"), ErrMalformed},
		{"crit header", ed.craft(t, ed.header(map[string]any{"crit": []string{"exp"}, "exp": 1}), claims, "EdDSA"), ErrMalformed},
		{"b64 false", ed.craft(t, ed.header(map[string]any{"b64": false}), claims, "EdDSA"), ErrMalformed},
		{"cty JWT (nested)", ed.craft(t, ed.header(map[string]any{"cty": "JWT"}), claims, "EdDSA"), ErrMalformed},

		// duplicates and parser differentials
		{"duplicate alg in header", ed.craft(t, `{"alg":"none","alg":"EdDSA","kid":"`+ed.kid+`","typ":"at+jwt"}`, claims, "EdDSA"), ErrMalformed},
		{"duplicate via escape in header", ed.craft(t, `{"alg":"EdDSA","\u0061lg":"EdDSA","kid":"`+ed.kid+`","typ":"at+jwt"}`, claims, "EdDSA"), ErrMalformed},
		{"duplicate sub in payload", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `{`, `{"sub":"admin",`, 1), "EdDSA"), ErrMalformed},
		{"duplicate exp in payload", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `{`, `{"exp":99999999999,`, 1), "EdDSA"), ErrMalformed},
		{"EXP instead of exp", ed.token(t, now, map[string]any{"exp": nil, "EXP": now.Add(time.Minute).Unix()}), ErrMissingClaim},

		// required claims
		{"exp missing", ed.token(t, now, map[string]any{"exp": nil}), ErrMissingClaim},
		{"exp zero", ed.token(t, now, map[string]any{"exp": 0}), ErrMissingClaim},
		{"iat missing", ed.token(t, now, map[string]any{"iat": nil}), ErrMissingClaim},
		{"iss missing", ed.token(t, now, map[string]any{"iss": nil}), ErrMissingClaim},
		{"sub missing", ed.token(t, now, map[string]any{"sub": nil}), ErrMissingClaim},
		{"sub empty", ed.token(t, now, map[string]any{"sub": ""}), ErrMissingClaim},
		{"aud missing", ed.token(t, now, map[string]any{"aud": nil}), ErrMissingClaim},
		{"aud empty array", ed.token(t, now, map[string]any{"aud": []string{}}), ErrMissingClaim},
		{"aud null", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `"aud":["orders-api","billing-api"]`, `"aud":null`, 1), "EdDSA"), ErrMalformed},

		// time
		{"expired", ed.token(t, now, map[string]any{"iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-5 * time.Minute).Unix()}), ErrExpired},
		{"expired just beyond leeway", ed.token(t, now, map[string]any{"iat": now.Add(-20 * time.Minute).Unix(), "exp": now.Add(-30 * time.Second).Unix()}), ErrExpired},
		{"nbf in the future", ed.token(t, now, map[string]any{"nbf": now.Add(time.Minute).Unix()}), ErrNotYetValid},
		{"iat in the future", ed.token(t, now, map[string]any{"iat": now.Add(2 * time.Minute).Unix(), "nbf": nil}), ErrNotYetValid},
		{"lifetime above 24h", ed.token(t, now, map[string]any{"exp": now.Add(25 * time.Hour).Unix()}), ErrInvalidLifetime},
		{"exp before iat", ed.token(t, now, map[string]any{"iat": now.Add(20 * time.Second).Unix(), "exp": now.Add(10 * time.Second).Unix(), "nbf": nil}), ErrInvalidLifetime},

		// issuer and audience
		{"wrong issuer", ed.token(t, now, map[string]any{"iss": "https://evil.test"}), ErrWrongIssuer},
		{"issuer with trailing slash", ed.token(t, now, map[string]any{"iss": testIssuer + "/"}), ErrWrongIssuer},
		{"wrong audience", ed.token(t, now, map[string]any{"aud": "billing-api"}), ErrWrongAudience},
		{"audience array without ours", ed.token(t, now, map[string]any{"aud": []string{"a", "b"}}), ErrWrongAudience},

		// signature
		{"payload tampered", tamperedPayload, ErrBadSignature},
		{"signed by another key with the same kid", otherKeySameKID, ErrBadSignature},
		{"signature bit flipped", replacePart(good, 2, b64(flipped)), ErrBadSignature},
		{"signature truncated", replacePart(good, 2, b64(sigBytes[:32])), ErrBadSignature},
		{"rsa signature truncated", replacePart(goodRSA, 2, "AAAA"), ErrBadSignature},

		// payload shape and numbers
		{"payload is an array", ed.craft(t, ed.header(nil), `[1,2]`, "EdDSA"), ErrMalformed},
		{"payload is null", ed.craft(t, ed.header(nil), `null`, "EdDSA"), ErrMalformed},
		{"payload not json", ed.craft(t, ed.header(nil), `sub=admin`, "EdDSA"), ErrMalformed},
		{"payload trailing data", ed.craft(t, ed.header(nil), string(payload)+`{}`, "EdDSA"), ErrMalformed},
		{"exp huge float", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `"iss"`, `"exp":1e400,"iss"`, 1), "EdDSA"), ErrMalformed},
		{"exp huge integer", ed.token(t, now, map[string]any{"exp": json.Number("99999999999999999999")}), ErrMalformed},
		{"exp beyond year 9999", ed.token(t, now, map[string]any{"exp": int64(253402300800)}), ErrMalformed},
		{"exp negative", ed.token(t, now, map[string]any{"exp": -1}), ErrMalformed},
		{"exp as a string", ed.token(t, now, map[string]any{"exp": "1700000900"}), ErrMalformed},
		{"sub as a number", ed.token(t, now, map[string]any{"sub": 42}), ErrMalformed},
		{"aud array with a number", ed.token(t, now, map[string]any{"aud": []any{testAudience, 1}}), ErrMalformed},
		{"invalid utf-8 in a claim", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `"user-42"`, "\"user-\xff\"", 1), "EdDSA"), ErrMalformed},
		{"lone surrogate in a name", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `{`, `{"\ud800":1,`, 1), "EdDSA"), ErrMalformed},
		{"deep nesting", ed.token(t, now, map[string]any{"deep": json.RawMessage(strings.Repeat("[", 100) + strings.Repeat("]", 100))}), ErrMalformed},
		{"leading zero number", ed.craft(t, ed.header(nil), strings.Replace(string(payload), `{`, `{"x":01,`, 1), "EdDSA"), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.v.Verify(context.Background(), tt.tok)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "user-42" || c.Issuer != testIssuer {
					t.Fatalf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			if len(tt.tok) > 20 && strings.Contains(err.Error(), tt.tok[:20]) {
				t.Fatal("error contains the token")
			}
			if !strings.HasPrefix(err.Error(), "verifier: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	f := newRuleFixture(t)
	c, err := f.v.Verify(context.Background(), f.ed.token(t, testNow, nil))
	must(t, err)
	want := Claims{
		Issuer: testIssuer, Subject: "user-42", Audience: []string{testAudience, "billing-api"},
		Expiry: testNow.Add(15 * time.Minute), IssuedAt: testNow, NotBefore: testNow,
		ID: "tok-1", SessionID: "sess-1", Email: "ada@example.com", Scope: "orders:read orders:write",
	}
	if c.Issuer != want.Issuer || c.Subject != want.Subject || strings.Join(c.Audience, ",") != strings.Join(want.Audience, ",") ||
		!c.Expiry.Equal(want.Expiry) || !c.IssuedAt.Equal(want.IssuedAt) || !c.NotBefore.Equal(want.NotBefore) ||
		c.ID != want.ID || c.SessionID != want.SessionID || c.Email != want.Email || c.Scope != want.Scope {
		t.Fatalf("claims = %+v\nwant     %+v", *c, want)
	}
	for scope, want := range map[string]bool{"orders:read": true, "orders:write": true, "orders": false, "": false, "orders:read orders:write": false} {
		if got := c.HasScope(scope); got != want {
			t.Errorf("HasScope(%q) = %v", scope, got)
		}
	}
	if (&Claims{}).HasScope("x") {
		t.Error("empty scope has a scope")
	}
}

func TestExpiredErrorType(t *testing.T) {
	f := newRuleFixture(t)
	exp := testNow.Add(-time.Hour)
	_, err := f.v.Verify(context.Background(), f.ed.token(t, testNow, map[string]any{"iat": exp.Add(-15 * time.Minute).Unix(), "exp": exp.Unix()}))
	var te *TokenExpiredError
	if !errors.As(err, &te) || !te.Expiry.Equal(exp) {
		t.Fatalf("err = %v, want *TokenExpiredError at %v", err, exp)
	}
	if !errors.Is(err, ErrExpired) || ErrorKind(err) != "expired" {
		t.Fatalf("errors.Is(ErrExpired) false or kind %q", ErrorKind(err))
	}
}

func TestLeewayAndLifetimeConfig(t *testing.T) {
	ed := newEdKey(t)
	newV := func(cfg Config) (*Verifier, error) {
		cfg.Issuer, cfg.Audience, cfg.StaticKeys = testIssuer, testAudience, mustSet(t, ed)
		cfg.Now = func() time.Time { return testNow }
		return New(context.Background(), cfg)
	}
	if _, err := newV(Config{Leeway: 10 * time.Minute}); err == nil {
		t.Fatal("leeway above the cap accepted")
	}
	v, err := newV(Config{Leeway: -1})
	must(t, err)
	// exp 10 s ago passes with the default leeway but not with none.
	tok := ed.token(t, testNow, map[string]any{"iat": testNow.Add(-time.Minute).Unix(), "exp": testNow.Add(-10 * time.Second).Unix()})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("no leeway: %v", err)
	}
	v, err = newV(Config{MaxTokenLifetime: time.Hour})
	must(t, err)
	if _, err := v.Verify(context.Background(), ed.token(t, testNow, map[string]any{"exp": testNow.Add(2 * time.Hour).Unix()})); !errors.Is(err, ErrInvalidLifetime) {
		t.Fatalf("lifetime: %v", err)
	}
	v, err = newV(Config{MaxTokenSize: 100})
	must(t, err)
	if _, err := v.Verify(context.Background(), ed.token(t, testNow, nil)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("size cap: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ed := newEdKey(t)
	set := mustSet(t, ed)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Audience: "a", StaticKeys: set}},
		{"no audience", Config{Issuer: testIssuer, StaticKeys: set}},
		{"HS256 allowed", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, Algorithms: []string{"EdDSA", "HS256"}}},
		{"none allowed", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, Algorithms: []string{"none"}}},
		{"two key sources", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, JWKSURL: "https://x.test/jwks"}},
		{"jwks url not http", Config{Issuer: testIssuer, Audience: "a", JWKSURL: "file:///etc/passwd"}},
		{"issuer not a url for discovery", Config{Issuer: "issuer", Audience: "a"}},
		{"static set without usable key", Config{Issuer: testIssuer, Audience: "a", StaticJWKS: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"x"}]}`)}},
		{"static jwks not json", Config{Issuer: testIssuer, Audience: "a", StaticJWKS: []byte(`nope`)}},
		{"negative cooldown", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, UnknownKIDCooldown: -1}},
		{"wait too long", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, UnknownKIDWait: time.Minute}},
		{"staleness below refresh", Config{Issuer: testIssuer, Audience: "a", StaticKeys: set, MaxStaleness: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(context.Background(), tt.cfg)
			if err == nil {
				v.Close()
				t.Fatal("New accepted the config")
			}
			if !strings.HasPrefix(err.Error(), "verifier: ") {
				t.Fatalf("error %q lacks the prefix", err)
			}
		})
	}
}

func TestOptionalAlgorithms(t *testing.T) {
	ec, rs := newECKey(t), newRSAKey(t, 2048, false)
	psKey := newTestKey(t, rs.priv, "PS256")
	psKey.kid += "-ps" // a second JWK for the same RSA key, bound to PS256
	must(t, psKey.pub.Set("kid", psKey.kid))
	v, err := New(context.Background(), Config{
		Issuer: testIssuer, Audience: testAudience,
		StaticJWKS: jwksOf(t, ec.pub, psKey.pub),
		Algorithms: []string{"ES256", "PS256"},
		Now:        func() time.Time { return testNow },
	})
	must(t, err)
	for _, k := range []*testKey{ec, psKey} {
		if _, err := v.Verify(context.Background(), k.token(t, testNow, nil)); err != nil {
			t.Fatalf("%s: %v", k.alg, err)
		}
	}
	// PS256 key refuses an RS256 signature.
	tok := rs.craft(t, psKey.header(map[string]any{"alg": "RS256"}), claimsAt(testNow, nil), "RS256")
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrDisallowedAlg) {
		t.Fatalf("RS256 on a PS256 key: %v", err)
	}
}

func TestErrorKind(t *testing.T) {
	tests := map[error]string{
		nil:                                   "invalid",
		errors.New("other"):                   "invalid",
		ErrNoToken:                            "missing_token",
		errBadBase64:                          "malformed",
		errAlgKeyMismatch:                     "disallowed_alg",
		errKIDNotFound:                        "unknown_key",
		ErrBadSignature:                       "bad_signature",
		errMissingExp:                         "missing_claim",
		ErrWrongIssuer:                        "wrong_issuer",
		ErrWrongAudience:                      "wrong_audience",
		&TokenExpiredError{Expiry: testNow}:   "expired",
		errNbfFuture:                          "not_yet_valid",
		errTooLong:                            "invalid_lifetime",
		&KeySetUnavailableError{}:             "keyset_unavailable",
		detail(ErrKeySetUnavailable, "other"): "keyset_unavailable",
	}
	for err, want := range tests {
		if got := ErrorKind(err); got != want {
			t.Errorf("ErrorKind(%v) = %q, want %q", err, got, want)
		}
	}
}
