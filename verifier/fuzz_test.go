package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, every
// error must be classified, and only a genuine token may pass.
func FuzzVerify(f *testing.F) {
	ed, rs := newEdKey(f), newRSAKey(f, 2048, false)
	v, err := New(context.Background(), Config{
		Issuer: testIssuer, Audience: testAudience,
		StaticKeys: mustSet(f, ed, rs),
		Now:        func() time.Time { return testNow },
	})
	must(f, err)
	claims := claimsAt(testNow, nil)
	seeds := []string{
		ed.token(f, testNow, nil),
		rs.token(f, testNow, nil),
		ed.token(f, testNow, map[string]any{"exp": nil}),
		ed.token(f, testNow, map[string]any{"aud": "x", "extra": []any{map[string]any{"a": 1}}}),
		ed.craft(f, ed.header(map[string]any{"alg": "none"}), claims, "EdDSA"),
		ed.craft(f, ed.header(map[string]any{"crit": []string{"b64"}, "b64": false}), claims, "EdDSA"),
		ed.craft(f, `{"alg":"EdDSA","alg":"EdDSA"}`, `{"sub":"\ud83d\ude00","exp":1e400}`, "EdDSA"),
		`{"payload":"e30","signatures":[]}`,
		"a.b.c", "..", "", "e30.e30.", "eyJhbGciOiJFZERTQSJ9.e30.AAAA",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	valid := map[string]bool{seeds[0]: true, seeds[1]: true}
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(context.Background(), raw)
		if err == nil {
			if c == nil || !valid[raw] {
				t.Fatalf("accepted a token that is not a seed: %q", raw)
			}
			return
		}
		if c != nil {
			t.Fatal("claims with an error")
		}
		if ErrorKind(err) == "invalid" {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// FuzzStrictJSON checks the strict JSON reader against encoding/json: what
// it accepts must be valid JSON, and the claims it reads must agree.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"iss":"x","aud":["a","b"],"exp":1.5e9}`, `{"a":{"b":[1,true,null,"\u00e9"]}}`,
		`{"a":1,"a":2}`, `{"\u0061":1,"a":2}`, `{"x":"\ud800"}`, `[1]`, `{"a":01}`, ` {"a" : -0.0e+1 } `,
		`{"act":{"sub":"a","act":{"sub":"b","act":{"sub":"c"}}},"roles":["x",""],"email_verified":true,"client_id":"w"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ok := walkObject(data, func([]byte, jsonValue) bool { return true })
		if ok && !json.Valid(data) {
			t.Fatalf("accepted invalid json %q", data)
		}
		c, ok := parseClaims(data)
		if !ok {
			return
		}
		var std struct {
			Iss   *string `json:"iss"`
			Email *string `json:"email"`
		}
		if err := json.Unmarshal(data, &std); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) { // a case-variant name of another type
				t.Fatalf("encoding/json rejects what parseClaims accepted: %v", err)
			}
			return
		}
		// encoding/json also matches "ISS"; compare only when names are exact.
		if std.Iss != nil && *std.Iss != c.Issuer && c.Issuer != "" {
			t.Fatalf("iss %q vs %q", c.Issuer, *std.Iss)
		}
	})
}
