package httpapi_test

import (
	"net/http"
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
