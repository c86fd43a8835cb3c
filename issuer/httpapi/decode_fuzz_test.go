package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/signet-auth/signet/issuer"
)

// FuzzDecodeJSON feeds arbitrary bodies to the strict decoder: it must
// never panic, must refuse what is nested deeper than the bound, and what
// it accepts must be a JSON object that encoding/json reads the same way,
// in valid UTF-8, whose member names are unique and spelt exactly as the
// fields', and whose strings hold U+FFFD only where the body spells it.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"correct horse"}`,
		`{"email":"a@example.com","password":"x","refresh_cookie":true}`,
		`{"email":"\u0061@example.com","password":"p"}`,
		`{"email":[[[[[[[[[[]]]]]]]]]]}`, `[]`, `null`, `{} {}`, `{"email":"a"`, `"\"{"`, ``,
		`{"email":"a","email":"b"}`, `{"EMAIL":"a"}`, `{"password":"a","Password":"b"}`,
		"{\"password\":\"p\xff\"}", `{"password":"p\ud800"}`, `{"password":"\ud83d\ude00\ufffd"}`,
	} {
		f.Add([]byte(seed))
	}
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/signin", bytes.NewReader(body))
		c.Request.Header.Set("Content-Type", "application/json")
		var req signinRequest
		err := decodeJSON(c, &req)
		if err != nil {
			if _, ok := err.(*issuer.Error); !ok {
				t.Fatalf("decodeJSON returned a non-API error %T: %v", err, err)
			}
			return
		}
		if jsonDepth(body) > maxJSONDepth {
			t.Fatalf("accepted a body nested %d deep", jsonDepth(body))
		}
		var again signinRequest
		if err := json.Unmarshal(body, &again); err != nil || again != req {
			t.Fatalf("accepted %q, which encoding/json reads as %+v (%v), not %+v", body, again, err, req)
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted %q, which is not valid UTF-8", body)
		}
		names := topLevelNames(t, body)
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Fatalf("accepted %q, where %q appears twice", body, n)
			}
			seen[n] = true
			if n != "email" && n != "password" && n != "refresh_cookie" {
				t.Fatalf("accepted %q, whose member %q is not a field's exact name", body, n)
			}
		}
		spelt := bytes.ContainsRune(body, utf8.RuneError) || bytes.Contains(bytes.ToLower(body), []byte(`\ufffd`))
		if (strings.ContainsRune(req.Email, utf8.RuneError) || strings.ContainsRune(req.Password, utf8.RuneError)) && !spelt {
			t.Fatalf("accepted %q, which decodes to U+FFFD that the body does not spell", body)
		}
	})
}

// topLevelNames lists the member names of the JSON object body, in order,
// repeats included: a walk over encoding/json's tokens, independent of
// the decoder under test.
func topLevelNames(t *testing.T, body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("accepted %q, which is not a JSON object (%v, %v)", body, tok, err)
	}
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("accepted %q: %v", body, err)
		}
	}
	return names
}
