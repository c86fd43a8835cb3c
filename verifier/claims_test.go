package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// fullClaims sets every field of Claims, and of Actor one level down.
func fullClaims() Claims {
	return Claims{
		Issuer:        testIssuer,
		Subject:       "user-42",
		Audience:      []string{testAudience, "billing-api"},
		Expiry:        time.Unix(testNow.Unix()+900, 0),
		IssuedAt:      time.Unix(testNow.Unix(), 0),
		NotBefore:     time.Unix(testNow.Unix()-5, 0),
		ID:            "tok-1",
		SessionID:     "sess-1",
		Email:         "ada@example.com",
		EmailVerified: true,
		Scope:         "orders:read orders:write",
		ClientID:      "shop-web",
		Roles:         []string{"admin", "support"},
		Actor:         &Actor{Subject: "svc-reports", Actor: &Actor{Subject: "svc-gateway"}},
	}
}

// requireNoZeroField fails for each field of the struct v that is zero, so
// that a field added to Claims or Actor cannot be left out of fullClaims.
func requireNoZeroField(t *testing.T, v any) {
	t.Helper()
	rv := reflect.Indirect(reflect.ValueOf(v))
	for i := range rv.NumField() {
		if rv.Field(i).IsZero() {
			t.Errorf("%s.%s is zero in the fixture: set it so the round trip covers it", rv.Type().Name(), rv.Type().Field(i).Name)
		}
	}
}

// claimsEqual compares field by field, times with Equal.
func claimsEqual(a, b *Claims) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if ta, ok := fa.(time.Time); ok {
			if !ta.Equal(fb.(time.Time)) {
				return false
			}
		} else if !reflect.DeepEqual(fa, fb) {
			return false
		}
	}
	return true
}

// TestClaimsRoundTrip: every field written by AppendJSON comes back equal
// from the verifier's reader, alone and through a signed token.
func TestClaimsRoundTrip(t *testing.T) {
	want := fullClaims()
	requireNoZeroField(t, want)
	requireNoZeroField(t, want.Actor)

	payload, err := want.AppendJSON(nil)
	must(t, err)
	got, ok := parseClaims(payload)
	if !ok {
		t.Fatalf("the reader refused what the writer wrote: %s", payload)
	}
	if !claimsEqual(&got.Claims, &want) {
		t.Fatalf("round trip\n got  %+v\n want %+v\n json %s", got.Claims, want, payload)
	}

	f := newRuleFixture(t)
	tok := f.ed.craft(t, f.ed.header(nil), payload, "EdDSA")
	c, err := f.v.Verify(context.Background(), tok)
	must(t, err)
	if !claimsEqual(c, &want) {
		t.Fatalf("through Verify\n got  %+v\n want %+v", *c, want)
	}
}

// TestClaimNames: every name is read by the reader (a value of the wrong
// type makes the payload invalid, where an unknown claim is ignored), and
// the names are exactly the members AppendJSON writes, in its order.
func TestClaimNames(t *testing.T) {
	names := ClaimNames()
	for _, name := range names {
		if _, ok := parseClaims([]byte(`{"` + name + `":[1]}`)); ok {
			t.Errorf("the reader ignores %q", name)
		}
	}
	if _, ok := parseClaims([]byte(`{"not_a_claim":[1]}`)); !ok {
		t.Fatal("the reader refuses an unknown claim")
	}

	c := fullClaims()
	payload, err := c.AppendJSON(nil)
	must(t, err)
	dec := json.NewDecoder(bytes.NewReader(payload))
	var written []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		name, err := dec.Token()
		must(t, err)
		written = append(written, name.(string))
		var skip json.RawMessage
		must(t, dec.Decode(&skip))
	}
	if !slices.Equal(written, names) {
		t.Fatalf("AppendJSON writes %v\nClaimNames is     %v", written, names)
	}

	names[0] = "changed"
	if ClaimNames()[0] != claimIss {
		t.Fatal("ClaimNames shares its slice with callers")
	}
}

// accessClaimsV1 has the shape of the claims the issuer signed with
// encoding/json before AppendJSON: AppendJSON must write the same bytes
// for them, so switching the signer changes no token.
type accessClaimsV1 struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	ID        string   `json:"jti"`
	SessionID string   `json:"sid"`
	Email     string   `json:"email"`
	Scope     string   `json:"scope"`
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	odd := "a\"b\\c<d>e&f\u2028g\u2029h\x00\x01\x1f\b\f\n\r\t/é漢🙂\x7f"
	for _, scope := range []string{"", "orders:read", odd} {
		c := Claims{
			Issuer: "https://auth.example.com/" + odd, Subject: odd, Audience: []string{"a", odd},
			Expiry: time.Unix(1_700_000_900, 0), IssuedAt: time.Unix(1_700_000_000, 0), NotBefore: time.Unix(1_700_000_000, 0),
			ID: odd, SessionID: "sess", Email: "ann+" + odd + "@example.com", Scope: scope,
		}
		got, err := c.AppendJSON([]byte("prefix"))
		must(t, err)
		want, err := json.Marshal(accessClaimsV1{c.Issuer, c.Subject, c.Audience, c.Expiry.Unix(), c.IssuedAt.Unix(),
			c.NotBefore.Unix(), c.ID, c.SessionID, c.Email, c.Scope})
		must(t, err)
		if string(got) != "prefix"+string(want) {
			t.Fatalf("AppendJSON\n %s\nencoding/json\n %s", got[len("prefix"):], want)
		}
		back, ok := parseClaims(got[len("prefix"):])
		if !ok || !claimsEqual(&back.Claims, &c) {
			t.Fatalf("round trip of %q: %+v", odd, back)
		}
	}
}

func TestAppendJSONOmitsEmptyOptionalClaims(t *testing.T) {
	c := Claims{Issuer: "i", Subject: "s", Audience: []string{"a"}, Expiry: time.Unix(2, 0), IssuedAt: time.Unix(1, 0), Roles: []string{}}
	got, err := c.AppendJSON(nil)
	must(t, err)
	if want := `{"iss":"i","sub":"s","aud":["a"],"exp":2,"iat":1,"scope":""}`; string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, ok := parseClaims(got)
	c.Roles = nil // empty and absent read the same
	if !ok || !claimsEqual(&back.Claims, &c) {
		t.Fatalf("round trip: %+v", back.Claims)
	}
}

func TestAppendJSONRefuses(t *testing.T) {
	deep := &Actor{Subject: "a1"}
	for i := 2; i <= 6; i++ {
		deep = &Actor{Subject: "a", Actor: deep}
	}
	tests := []struct {
		name string
		edit func(*Claims)
	}{
		{"no iss", func(c *Claims) { c.Issuer = "" }},
		{"no sub", func(c *Claims) { c.Subject = "" }},
		{"no aud", func(c *Claims) { c.Audience = nil }},
		{"no exp", func(c *Claims) { c.Expiry = time.Time{} }},
		{"exp at the epoch", func(c *Claims) { c.Expiry = time.Unix(0, 0) }},
		{"no iat", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"exp after 9999", func(c *Claims) { c.Expiry = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"nbf before 1970", func(c *Claims) { c.NotBefore = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
		{"invalid utf-8 in sub", func(c *Claims) { c.Subject = "user-\xff" }},
		{"invalid utf-8 in aud", func(c *Claims) { c.Audience = []string{"a", "\xc3"} }},
		{"invalid utf-8 in a role", func(c *Claims) { c.Roles = []string{"\xed\xa0\x80"} }},
		{"invalid utf-8 in act", func(c *Claims) { c.Actor = &Actor{Subject: "\xff"} }},
		{"act without sub", func(c *Claims) { c.Actor = &Actor{} }},
		{"nested act without sub", func(c *Claims) { c.Actor = &Actor{Subject: "a", Actor: &Actor{}} }},
		{"act chain of 6", func(c *Claims) { c.Actor = deep }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fullClaims()
			tt.edit(&c)
			dst := []byte("keep")
			out, err := c.AppendJSON(dst)
			if err == nil {
				t.Fatalf("wrote %s", out)
			}
			if string(out) != "keep" || !strings.HasPrefix(err.Error(), "verifier: claims: ") {
				t.Fatalf("out %q, err %v", out, err)
			}
		})
	}
	five := deep.Actor
	c := fullClaims()
	c.Actor = five
	_, err := c.AppendJSON(nil)
	must(t, err)
}

// TestReadNewClaimsStrictly: the claims the contract gains are typed, and a
// wrong type makes the token malformed.
func TestReadNewClaimsStrictly(t *testing.T) {
	chain := func(n int) string {
		return strings.Repeat(`{"sub":"x","act":`, n-1) + `{"sub":"x"}` + strings.Repeat(`}`, n-1)
	}
	tests := []struct {
		claims string // members added to a valid payload
		ok     bool
		check  func(*Claims) bool
	}{
		{`"email_verified":true`, true, func(c *Claims) bool { return c.EmailVerified }},
		{`"email_verified":false`, true, func(c *Claims) bool { return !c.EmailVerified }},
		{`"email_verified":"true"`, false, nil},
		{`"email_verified":1`, false, nil},
		{`"email_verified":null`, false, nil},
		{`"client_id":"web"`, true, func(c *Claims) bool { return c.ClientID == "web" }},
		{`"client_id":["web"]`, false, nil},
		{`"roles":["a","b\u0063"]`, true, func(c *Claims) bool { return slices.Equal(c.Roles, []string{"a", "bc"}) }},
		{`"roles":[]`, true, func(c *Claims) bool { return c.Roles == nil }},
		{`"roles":"admin"`, false, nil},
		{`"roles":["admin",1]`, false, nil},
		{`"roles":null`, false, nil},
		{`"act":{"sub":"svc","iss":"https://other.test","client_id":"x"}`, true, func(c *Claims) bool {
			return c.Actor != nil && c.Actor.Subject == "svc" && c.Actor.Actor == nil
		}},
		{`"act":` + chain(5), true, func(c *Claims) bool {
			n := 0
			for a := c.Actor; a != nil; a = a.Actor {
				n++
			}
			return n == 5
		}},
		{`"act":` + chain(6), false, nil},
		{`"act":{}`, false, nil},
		{`"act":{"sub":""}`, false, nil},
		{`"act":{"sub":1}`, false, nil},
		{`"act":{"sub":"a","sub":"b"}`, false, nil},
		{`"act":{"sub":"a","act":null}`, false, nil},
		{`"act":{"sub":"a","act":{"iss":"x"}}`, false, nil},
		{`"act":"svc"`, false, nil},
		{`"act":null`, false, nil},
		{`"act":[{"sub":"a"}]`, false, nil},
	}
	f := newRuleFixture(t)
	base := string(toJSON(t, claimsAt(testNow, nil)))
	for _, tt := range tests {
		t.Run(tt.claims, func(t *testing.T) {
			payload := base[:len(base)-1] + "," + tt.claims + "}"
			c, err := f.v.Verify(context.Background(), f.ed.craft(t, f.ed.header(nil), payload, "EdDSA"))
			if !tt.ok {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("Verify: %v, want ErrMalformed", err)
				}
				return
			}
			must(t, err)
			if !tt.check(c) {
				t.Fatalf("claims %+v", *c)
			}
		})
	}
}

// FuzzClaimsRoundTrip: whatever AppendJSON writes, the reader reads back
// as the same claims; what it refuses has a reason.
func FuzzClaimsRoundTrip(f *testing.F) {
	f.Add("https://issuer.test", "user-42", "orders-api", "ada@example.com", "a b", "admin", "svc", int64(1_700_000_000), int64(900), true)
	f.Add("i\u2028<>&\"\\", "\x00\x1f", "", "", "", "", "", int64(0), int64(1), false)
	f.Add("\xff", "s", "a", "e", "s", "r", "", int64(5), int64(-10), false)
	f.Fuzz(func(t *testing.T, iss, sub, aud, email, scope, role, actor string, iat, ttl int64, verified bool) {
		c := Claims{Issuer: iss, Subject: sub, Audience: []string{aud}, IssuedAt: time.Unix(iat, 0), Expiry: time.Unix(iat+ttl, 0),
			Email: email, EmailVerified: verified, Scope: scope, Roles: []string{role}}
		if actor != "" {
			c.Actor = &Actor{Subject: actor}
		}
		payload, err := c.AppendJSON(nil)
		if err != nil {
			return
		}
		back, ok := parseClaims(payload)
		if !ok {
			t.Fatalf("the reader refused %s", payload)
		}
		if !claimsEqual(&back.Claims, &c) {
			t.Fatalf("round trip of %s\n got  %+v\n want %+v", payload, back.Claims, c)
		}
		if !json.Valid(payload) {
			t.Fatalf("invalid json %s", payload)
		}
	})
}
