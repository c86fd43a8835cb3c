package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/signet-auth/signet/issuer"
)

// FuzzDecodeJSON feeds arbitrary bodies to the strict decoder: it must
// never panic, must refuse what is nested deeper than the bound, and what
// it accepts must be a JSON object that encoding/json reads the same way.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a@example.com","password":"correct horse"}`,
		`{"email":"a@example.com","password":"x","refresh_cookie":true}`,
		`{"email":"\u0061@example.com","password":"p"}`,
		`{"email":[[[[[[[[[[]]]]]]]]]]}`, `[]`, `null`, `{} {}`, `{"email":"a"`, `"\"{"`, ``,
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
	})
}
