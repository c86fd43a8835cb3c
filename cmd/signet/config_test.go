package main

import (
	"flag"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
)

func loadFor(t *testing.T, cmd string, env map[string]string, args ...string) (*config, error) {
	t.Helper()
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	src := addSettings(fs, envFrom(env))
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return loadConfig(src)
}

// TestSettingsTable: every setting is defined once, and its default is
// valid.
func TestSettingsTable(t *testing.T) {
	envs, flags := map[string]bool{}, map[string]bool{}
	for _, s := range new(config).settings() {
		if envs[s.env] || (s.flag != "" && flags[s.flag]) {
			t.Errorf("%s (--%s) is defined twice", s.env, s.flag)
		}
		envs[s.env], flags[s.flag] = true, true
		if !strings.HasPrefix(s.env, "SIGNET_") || s.help == "" || len(s.cmds) == 0 || s.parse == nil {
			t.Errorf("%s is incomplete: %+v", s.env, s)
		}
		if s.def != "" {
			if err := s.parse(s.def); err != nil {
				t.Errorf("%s: the default %q does not parse: %v", s.env, s.def, err)
			}
		}
	}
	if _, err := loadFor(t, "serve", nil); err != nil {
		t.Fatalf("the defaults do not load: %v", err)
	}
}

// TestIssuerSettings: the bcrypt and sign-in throttle settings reach the
// issuer's configuration; throttle keys left out keep their defaults.
func TestIssuerSettings(t *testing.T) {
	c, err := loadFor(t, "serve", map[string]string{
		"SIGNET_BCRYPT_CONCURRENCY": "3",
		"SIGNET_BCRYPT_QUEUE_WAIT":  "750ms",
		"SIGNET_SIGNIN_THROTTLE":    "account=2, max=1h, reset=48h",
	})
	if err != nil {
		t.Fatal(err)
	}
	ic := c.issuerConfig(slog.New(slog.DiscardHandler))
	want := issuer.ThrottlePolicy{AccountFree: 2, IPFree: 20, BaseDelay: time.Second, MaxDelay: time.Hour, Reset: 48 * time.Hour}
	if ic.BcryptConcurrency != 3 || ic.BcryptQueueWait != 750*time.Millisecond || ic.Throttle != want {
		t.Fatalf("issuer config: concurrency %d, queue wait %s, throttle %+v; want 3, 750ms, %+v", ic.BcryptConcurrency, ic.BcryptQueueWait, ic.Throttle, want)
	}
	c, err = loadFor(t, "serve", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ic := c.issuerConfig(nil); ic.BcryptConcurrency != 0 || ic.Throttle.Reset != 24*time.Hour {
		t.Fatalf("defaults: concurrency %d (want 0: the issuer's own), throttle %+v", ic.BcryptConcurrency, ic.Throttle)
	}
}

// TestOpenIDProviderSettings: the authorization-code limit and the
// browser-session lifetime reach the issuer; bad values name the
// variable.
func TestOpenIDProviderSettings(t *testing.T) {
	c, err := loadFor(t, "serve", map[string]string{
		"SIGNET_AUTHORIZATION_CODE_LIMIT": "10/1m",
		"SIGNET_BROWSER_SESSION_TTL":      "2h",
	})
	if err != nil {
		t.Fatal(err)
	}
	ic := c.issuerConfig(slog.New(slog.DiscardHandler))
	if ic.CodeLimit != (issuer.RateLimit{Burst: 10, Per: time.Minute}) || ic.BrowserSessionTTL != 2*time.Hour {
		t.Fatalf("code limit %+v, browser session TTL %s", ic.CodeLimit, ic.BrowserSessionTTL)
	}
	for env, v := range map[string]string{"SIGNET_AUTHORIZATION_CODE_LIMIT": "many", "SIGNET_BROWSER_SESSION_TTL": "30s"} {
		if _, err := loadFor(t, "serve", map[string]string{env: v}); err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s=%s: %v, want an error naming it", env, v, err)
		}
	}
}

// TestCommandReadsOnlyItsSettings: a command ignores the variables of
// settings it does not use, so a bad one elsewhere does not stop it.
func TestCommandReadsOnlyItsSettings(t *testing.T) {
	env := map[string]string{"SIGNET_ADDR": "nonsense", "SIGNET_DATA_DIR": t.TempDir()}
	if _, err := loadFor(t, "migrate", env); err != nil {
		t.Fatalf("migrate read SIGNET_ADDR: %v", err)
	}
	if _, err := loadFor(t, "serve", env); err == nil || !strings.Contains(err.Error(), "SIGNET_ADDR") {
		t.Fatalf("serve accepted SIGNET_ADDR=nonsense: %v", err)
	}
}
