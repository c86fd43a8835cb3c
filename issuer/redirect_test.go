package issuer_test

import (
	"strings"
	"testing"

	"github.com/signet-auth/signet/issuer"
)

// TestCheckRedirectURI: what a client may register as a redirect or
// post-logout redirect URI, and the exact refusal of everything else.
func TestCheckRedirectURI(t *testing.T) {
	for _, ok := range []string{
		"https://app.example.com/cb", "https://app.example.com:8443/cb?x=1", "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb",
		"http://[::1]/cb", "http://localhost:3000/cb", "com.example.app:/oauth2redirect", "com.example.app://cb",
	} {
		if err := issuer.CheckRedirectURI(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for uri, why := range map[string]string{
		"/cb":                              "must be an absolute URI",
		"https://app.example.com/cb#frag":  "must not have a fragment",
		"https://app.example.com/cb#":      "must not have a fragment",
		"https://user:pw@app.example.com/": "must not carry user information",
		"http://app.example.com/cb":        "plain http is allowed for loopback hosts only",
		"javascript:alert(1)":              "use https, http on a loopback host, or a private-use scheme",
		"myapp:/cb":                        "use https, http on a loopback host, or a private-use scheme",
		"https:///cb":                      "https needs a host",
	} {
		err := issuer.CheckRedirectURI(uri)
		if err == nil || !strings.Contains(err.Error(), why) || issuer.KindOf(err) != issuer.KindInvalid {
			t.Errorf("%s: %v, want %q", uri, err, why)
		}
	}
}

// TestRedirectURIMatches: exact comparison, but the port of a loopback IP
// redirect URI is free for a public client (RFC 8252 §7.3).
func TestRedirectURIMatches(t *testing.T) {
	public := issuer.Client{Type: issuer.ClientPublic, RedirectURIs: []string{"https://app.example/cb", "http://127.0.0.1/cb", "http://[::1]:9/cb?a=1", "http://localhost/cb"}}
	confidential := public
	confidential.Type = issuer.ClientConfidential
	for _, tc := range []struct {
		c    issuer.Client
		uri  string
		want bool
	}{
		{public, "https://app.example/cb", true},
		{public, "https://app.example/cb/", false},
		{public, "https://APP.example/cb", false},
		{public, "https://app.example/cb?x=1", false},
		{public, "http://127.0.0.1:50000/cb", true},
		{public, "http://127.0.0.1/cb", true},
		{public, "http://127.0.0.1:50000/cb?x=1", false},
		{public, "http://127.0.0.1:50000/other", false},
		{public, "https://127.0.0.1:50000/cb", false},
		{public, "http://[::1]:4000/cb?a=1", true},
		{public, "http://[::1]:4000/cb", false},
		{public, "http://localhost:4000/cb", false}, // RFC 8252 §8.3: IP literals only
		{confidential, "http://127.0.0.1:50000/cb", false},
		{confidential, "http://127.0.0.1/cb", true},
	} {
		if got := issuer.RedirectURIMatches(tc.c, tc.uri); got != tc.want {
			t.Errorf("%s client, %s: %v, want %v", tc.c.Type, tc.uri, got, tc.want)
		}
	}
}
