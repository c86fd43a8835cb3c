package verifier_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/signet-auth/signet/verifier"
)

func Example() {
	// The issuer's signing key. A real resource server never has it: it
	// only needs Issuer and Audience, and fetches the public keys.
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub, _ := jwk.FromRaw(priv.Public())
	thumb, _ := pub.Thumbprint(crypto.SHA256)
	kid := base64.RawURLEncoding.EncodeToString(thumb)
	_ = pub.Set(jwk.KeyIDKey, kid)
	keys := jwk.NewSet()
	_ = keys.AddKey(pub)

	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	v, err := verifier.New(context.Background(), verifier.Config{
		Issuer:     "https://auth.example.com",
		Audience:   "orders-api",
		StaticKeys: keys, // no network in this example
		Now:        func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer v.Close()

	mint := func(exp time.Time) string {
		header, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"})
		claims, _ := json.Marshal(map[string]any{
			"iss": "https://auth.example.com", "sub": "user-42", "aud": "orders-api",
			"iat": exp.Add(-15 * time.Minute).Unix(), "exp": exp.Unix(), "scope": "orders:read",
		})
		in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
	}

	claims, err := v.Verify(context.Background(), mint(now.Add(10*time.Minute)))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(claims.Subject, claims.HasScope("orders:read"), claims.HasScope("orders:write"))

	_, err = v.Verify(context.Background(), mint(now.Add(-time.Hour)))
	var expired *verifier.TokenExpiredError
	fmt.Println(errors.Is(err, verifier.ErrExpired), errors.As(err, &expired), verifier.ErrorKind(err))
	// Output:
	// user-42 true false
	// true true expired
}

func ExampleClaims_AppendJSON() {
	// What the issuer signs: base64url(header) + "." + base64url(payload).
	iat := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	c := verifier.Claims{
		Issuer: "https://auth.example.com", Subject: "user-42", Audience: []string{"orders-api"},
		IssuedAt: iat, NotBefore: iat, Expiry: iat.Add(15 * time.Minute),
		ID: "tok-1", SessionID: "sess-1", Email: "ada@example.com", EmailVerified: true,
		Scope: "orders:read", ClientID: "shop-web", Roles: []string{"admin"},
	}
	payload, err := c.AppendJSON(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(payload))
	fmt.Println(verifier.ClaimNames()) // discovery's claims_supported
	// Output:
	// {"iss":"https://auth.example.com","sub":"user-42","aud":["orders-api"],"exp":1735733700,"iat":1735732800,"nbf":1735732800,"jti":"tok-1","sid":"sess-1","email":"ada@example.com","scope":"orders:read","email_verified":true,"client_id":"shop-web","roles":["admin"]}
	// [iss sub aud exp iat nbf jti sid email scope email_verified client_id roles act]
}
