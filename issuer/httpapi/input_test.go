package httpapi_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/keys"
)

// manySignups lifts the per-address sign-up limit for tests that sign up
// many addresses from one client.
func manySignups(c *settings, _ *keys.Policy) {
	c.SignupLimit = issuer.RateLimit{Burst: 1000, Per: time.Minute}
}

// Addresses that render like a registered one, or differ from it only in
// invisible characters, never become second accounts: invisible and
// direction characters are refused, other spellings of the same address
// are the same account, and look-alikes are refused as taken without
// saying which account they resemble.
func TestSignupLookAlikeAddresses(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, manySignups)
		e.signup("admin@example.com", "correct horse")
		e.signup("jos\u00e9@b\u00fccher.de", "correct horse")
		invalid := map[string]string{
			"zero-width space":    "ad\u200bmin@example.com",
			"soft hyphen":         "ad\u00admin@example.com",
			"byte-order mark":     "\ufeffadmin@example.com",
			"right-to-left mark":  "admin\u200f@example.com",
			"bidi override":       "\u202emoc.elpmaxe@nimda",
			"soft hyphen, domain": "admin@exam\u00adple.com",
		}
		for name, email := range invalid {
			resp, body := e.do("POST", "/v1/signup", map[string]string{"email": email, "password": "correct horse"})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s (%+q): %d %s, want 400 invalid_request", name, email, resp.StatusCode, body)
				continue
			}
			wantError(t, resp, body, 400, "invalid_request")
		}
		taken := map[string]string{
			"fullwidth":           "\uff41\uff44\uff4d\uff49\uff4e@example.com",
			"upper case":          "ADMIN@EXAMPLE.COM",
			"Cyrillic a":          "\u0430dmin@example.com",
			"Cyrillic i":          "adm\u0456n@example.com",
			"Cyrillic domain":     "admin@ex\u0430mple.com",
			"rn for m":            "adrnin@example.com",
			"NFD of an NFC":       "jose\u0301@bu\u0308cher.de",
			"punycode domain":     "jos\u00e9@xn--bcher-kva.de",
			"upper-case Unicode":  "JOS\u00c9@B\u00dcCHER.DE",
			"fullwidth at domain": "admin@\uff45xample.com",
		}
		for name, email := range taken {
			resp, body := e.do("POST", "/v1/signup", map[string]string{"email": email, "password": "correct horse"})
			if resp.StatusCode != http.StatusConflict {
				t.Errorf("%s (%+q): %d %s, want 409 email_taken", name, email, resp.StatusCode, body)
				continue
			}
			desc := wantError(t, resp, body, 409, "email_taken")
			if strings.Contains(desc, "admin") || strings.Contains(desc, "jos") || strings.Contains(desc, "example") {
				t.Errorf("%s: the refusal %q names the account it resembles", name, desc)
			}
		}
		resp, body := e.do("POST", "/v1/signup", map[string]string{"email": "bob@example.com", "password": "correct horse"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("an unrelated address: %d %s", resp.StatusCode, body)
		}
	})
}

// The stored form: NFC, lower case, the domain in ASCII (punycode).
func TestSignupStoresNormalForm(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	resp, body := e.do("POST", "/v1/signup", map[string]string{"email": " JOSE\u0301@Bu\u0308cher.DE ", "password": "correct horse"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d %s", resp.StatusCode, body)
	}
	if want := `"email":"jos\u00e9@xn--bcher-kva.de"`; !strings.Contains(string(body), "jos\u00e9@xn--bcher-kva.de") {
		t.Fatalf("signup answered %s, want %s", body, want)
	}
	tk := e.signin("jos\u00e9@b\u00fccher.de", "correct horse")
	if tk.User.Email != "jos\u00e9@xn--bcher-kva.de" {
		t.Fatalf("user.email = %+q", tk.User.Email)
	}
}

// Sign-in normalises as sign-up does: every spelling of the address
// signs in to the one account; a look-alike does not.
func TestSigninNormalisesEmail(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	e.signup("jos\u00e9@b\u00fccher.de", "correct horse")
	for _, spelling := range []string{
		"jose\u0301@bu\u0308cher.de", "jos\u00e9@xn--bcher-kva.de", "JOS\u00c9@B\u00dcCHER.DE", " jos\u00e9@b\u00fccher.de ",
	} {
		tk := e.signin(spelling, "correct horse")
		if tk.User.Email != "jos\u00e9@xn--bcher-kva.de" {
			t.Fatalf("signin as %+q: user.email %+q", spelling, tk.User.Email)
		}
	}
	resp, body := e.do("POST", "/oauth/token", "grant_type=password&username=jose%CC%81%40bu%CC%88cher.de&password=correct+horse",
		"Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant with the NFD spelling: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do("POST", "/v1/signin", map[string]string{"email": "j\u043es\u00e9@b\u00fccher.de", "password": "correct horse"})
	wantError(t, resp, body, 401, "invalid_grant")
}

// Two look-alike sign-ups racing: the unique index lets exactly one in.
func TestSignupLookAlikeRace(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, manySignups)
		emails := []string{"admin@example.com", "\u0430dmin@example.com", "adm\u0456n@example.com", "adrnin@example.com"}
		statuses := make([]int, len(emails))
		var wg sync.WaitGroup
		for i, email := range emails {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := e.do("POST", "/v1/signup", map[string]string{"email": email, "password": "correct horse"})
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		created := 0
		for i, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				t.Errorf("%+q: status %d", emails[i], s)
			}
		}
		if created != 1 {
			t.Fatalf("statuses %v: %d accounts created, want exactly 1", statuses, created)
		}
	})
}

// jsonEndpoints are every endpoint that takes a JSON body.
var jsonEndpoints = []string{"/v1/signup", "/v1/signin", "/v1/token/refresh"}

// Invalid UTF-8 used to become U+FFFD, so password\xff, password\xfe and
// password\x80 were one password (and the form endpoint disagreed). Every
// endpoint now refuses them.
func TestBodiesMustBeUTF8(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite), manySignups)
	for _, path := range jsonEndpoints {
		for name, body := range map[string]string{
			"byte ff":        "{\"email\":\"a@example.com\",\"password\":\"password\xff\"}",
			"byte fe":        "{\"email\":\"a@example.com\",\"password\":\"password\xfe\"}",
			"byte 80":        "{\"email\":\"a@example.com\",\"password\":\"password\x80\"}",
			"in a name":      "{\"email\":\"a@example.com\",\"pass\xffword\":\"password\"}",
			"lone high":      `{"email":"a@example.com","password":"password\ud800"}`,
			"lone low":       `{"email":"a@example.com","password":"password\udc00x"}`,
			"high then text": `{"email":"a@example.com","password":"password\ud800\u0041"}`,
			"token":          "{\"refresh_token\":\"sgt_rt_\xff\"}",
		} {
			resp, b := e.do("POST", path, body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s, %s: %d %s, want 400 invalid_request", path, name, resp.StatusCode, b)
				continue
			}
			wantError(t, resp, b, 400, "invalid_request")
		}
	}
	// A real surrogate pair and a real U+FFFD are text like any other.
	e.signup("pair@example.com", "password \U0001f600 \ufffd")
	resp, b := e.do("POST", "/v1/signin", `{"email":"pair@example.com","password":"password \ud83d\ude00 \ufffd"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("escaped surrogate pair: %d %s", resp.StatusCode, b)
	}
	form := "application/x-www-form-urlencoded"
	for _, body := range []string{
		"grant_type=password&username=a%40example.com&password=password%FF",
		"grant_type=password&username=a%40example.com&password=password\xfe",
		"grant_type=password&username=a%40example.com%80&password=password",
		"grant_type=refresh_token&refresh_token=sgt_rt_%FF",
		"grant_type=password&user%FFname=a&password=password",
	} {
		resp, b := e.do("POST", "/oauth/token", body, "Content-Type", form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "UTF-8") {
			t.Errorf("/oauth/token %q: %d %s, want 400 invalid_request about UTF-8", body, resp.StatusCode, b)
		}
	}
	resp, b = e.do("POST", "/oauth/revoke", "token=sgt_rt_%FF", "Content-Type", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "UTF-8") {
		t.Errorf("/oauth/revoke: %d %s, want 400 invalid_request about UTF-8", resp.StatusCode, b)
	}
}

// encoding/json is lenient where a strict API must not be: duplicate
// names (last wins), names in any case ("EMAIL" is email), a null body
// (an empty sign-in that costs a bcrypt), and no Content-Type at all
// (what a cross-site page can send without a CORS preflight). Every JSON
// endpoint refuses them before doing any work.
func TestJSONBodiesStrict(t *testing.T) {
	e := newEnv(t, storetest.Open(t, store.SQLite))
	for _, path := range jsonEndpoints {
		for name, tc := range map[string]struct {
			body, contentType string
			status            int
			code              string
		}{
			"duplicate name":         {`{"email":"a@example.com","email":"b@example.com","password":"password"}`, "application/json", 400, "invalid_request"},
			"duplicate token":        {`{"refresh_token":"x","refresh_token":"y"}`, "application/json", 400, "invalid_request"},
			"upper-case name":        {`{"EMAIL":"a@example.com","password":"password"}`, "application/json", 400, "invalid_request"},
			"mixed-case name":        {`{"Refresh_Token":"x"}`, "application/json", 400, "invalid_request"},
			"case-variant duplicate": {`{"password":"one","Password":"two"}`, "application/json", 400, "invalid_request"},
			"null":                   {`null`, "application/json", 400, "invalid_request"},
			"null with spaces":       {" null\n", "application/json", 400, "invalid_request"},
			"string":                 {`"x"`, "application/json", 400, "invalid_request"},
			"no Content-Type":        {`{"email":"a@example.com","password":"password"}`, "", 415, "unsupported_media_type"},
			"text/plain":             {`{"email":"a@example.com","password":"password"}`, "text/plain", 415, "unsupported_media_type"},
			"form":                   {`{"email":"a@example.com","password":"password"}`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
			"multipart":              {`{"email":"a@example.com","password":"password"}`, "multipart/form-data; boundary=x", 415, "unsupported_media_type"},
			"UTF-16 charset":         {`{"email":"a@example.com","password":"password"}`, "application/json; charset=utf-16", 415, "unsupported_media_type"},
		} {
			before := e.store.calls()
			req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s, %s: %d %s, want %d %s", path, name, resp.StatusCode, b, tc.status, tc.code)
				continue
			}
			wantError(t, resp, b, tc.status, tc.code)
			if n := e.store.calls() - before; n != 0 {
				t.Errorf("%s, %s: refused after %d store calls, want none", path, name, n)
			}
		}
	}
	// JSON with a charset parameter, and +json types, are still JSON.
	for i, ct := range []string{"application/json; charset=utf-8", "application/json;charset=UTF-8", "application/merge-patch+json"} {
		resp, b := e.do("POST", "/v1/signup", `{"email":"ct`+strconv.Itoa(i)+`@example.com","password":"correct horse"}`, "Content-Type", ct)
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("Content-Type %q: %d %s", ct, resp.StatusCode, b)
		}
	}
}
