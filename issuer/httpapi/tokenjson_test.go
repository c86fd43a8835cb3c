package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer"
)

// TestTokenResponseJSON: the hand-written encoding of the token response
// is byte for byte what encoding/json makes of it, escapes, omitted
// fields and times included.
func TestTokenResponseJSON(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	cases := map[string]tokenResponse{
		"refresh": {AccessToken: "eyJ.a-b_c.sig", TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "sgt_rt2_AAAA",
			RefreshExpiresIn: 604800, User: issuer.User{ID: "0195-uuid", Email: "ann@example.com", CreatedAt: at, EmailVerified: true}},
		"cookie mode, scope, device token": {AccessToken: "x", TokenType: "Bearer", ExpiresIn: 1,
			User: issuer.User{ID: "u", Email: "b@example.com", CreatedAt: at.Truncate(time.Second)}, DeviceToken: "dev", Scope: "read write"},
		"escapes": {AccessToken: "<&>\"\\\n\r\t\b\f\x01\u2028\u2029é\xff", TokenType: "Bearer", ExpiresIn: -5, RefreshToken: "r",
			User: issuer.User{ID: "ü", Email: "a\"b@example.com", CreatedAt: time.Date(1999, 1, 1, 0, 0, 0, 1, time.FixedZone("x", 3600))}},
		"zero": {},
	}
	for name, r := range cases {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func BenchmarkTokenResponseJSON(b *testing.B) {
	r := tokenResponse{AccessToken: strings.Repeat("a", 600), TokenType: "Bearer", ExpiresIn: 900, RefreshToken: "sgt_rt2_AAAA",
		RefreshExpiresIn: 604800, User: issuer.User{ID: "0195-uuid", Email: "ann@example.com", CreatedAt: time.Now(), EmailVerified: true}}
	b.Run("appendJSON", func(b *testing.B) {
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf = r.appendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}

// TestDecodeRefreshRequestFastPath: the refresh body's fast path reads
// exactly what the strict decoder reads, and leaves every other body,
// refusals included, to it.
func TestDecodeRefreshRequestFastPath(t *testing.T) {
	decode := func(body string, f func(*gin.Context, *refreshRequest) error) (refreshRequest, error) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/token/refresh", strings.NewReader(body))
		c.Request.Header.Set("Content-Type", "application/json")
		var req refreshRequest
		err := f(c, &req)
		return req, err
	}
	strict := func(c *gin.Context, r *refreshRequest) error { return decodeJSON(c, r) }
	for _, body := range []string{
		`{"refresh_token":"sgt_rt2_AbC-_09"}`,
		`{"refresh_token":"sgt_rt2_A\u0042"}`,
		`{"refresh_token":"a","refresh_token":"b"}`,
		`{"refresh_token":"a","extra":"b"}`,
		`{"Refresh_Token":"a"}`,
		`{"refresh_token":"a b"}`,
		`{"refresh_token":"a"} `,
		`{"refresh_token":"a"}{}`,
		`{"refresh_token":""}`,
		`{"refresh_token":"` + strings.Repeat("A", 600) + `"}`,
		`{"refresh_token":"x","resource":"https://api.example.com"}`,
	} {
		got, gotErr := decode(body, decodeRefreshRequest)
		want, wantErr := decode(body, strict)
		if got != want || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Errorf("%s: fast path %+v %v, strict %+v %v", body, got, gotErr, want, wantErr)
		}
	}
}
