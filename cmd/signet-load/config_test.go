package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    [numOps]int
		wantErr string
	}{
		{in: "signup=1,signin=2,refresh=10,api=20", want: [numOps]int{1, 2, 10, 20, 0}},
		{in: " jwks = 3 , api=1 ", want: [numOps]int{0, 0, 0, 1, 3}},
		{in: "refresh=0,api=5,", want: [numOps]int{0, 0, 0, 5, 0}},
		{in: "", wantErr: "no operation"},
		{in: "api=0", wantErr: "no operation"},
		{in: "login=1", wantErr: "unknown operation"},
		{in: "api", wantErr: "not op=weight"},
		{in: "api=-1", wantErr: "integer from 0"},
		{in: "api=x", wantErr: "integer from 0"},
		{in: "api=1,api=2", wantErr: "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := parseMix(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseMix(%q) error = %v, want it to mention %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseMix(%q): %v", tt.in, err)
			}
			if m.weights != tt.want {
				t.Errorf("weights = %v, want %v", m.weights, tt.want)
			}
		})
	}
}

func TestMixPickFollowsWeights(t *testing.T) {
	m, err := parseMix("signup=1,refresh=3,api=6")
	if err != nil {
		t.Fatal(err)
	}
	var got [numOps]int
	for n := range m.total {
		got[m.pick(n)]++
	}
	if want := [numOps]int{1, 0, 3, 6, 0}; got != want {
		t.Errorf("one pick per n in [0,%d) = %v, want %v", m.total, got, want)
	}
	if s := m.String(); s != "signup=1,refresh=3,api=6" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"200": 200, "200/s": 200, "0.5/s": 0.5, "600/m": 10, "60/min": 1} {
		if got, err := parseRate(in); err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "x", "10/h", "NaN", "2000000"} {
		if _, err := parseRate(in); err == nil {
			t.Errorf("parseRate(%q) accepted", in)
		}
	}
}

func TestLoopbackOnly(t *testing.T) {
	allowed := []string{
		"http://127.0.0.1:8080", "http://127.1.2.3", "http://localhost:8080/", "https://LOCALHOST.",
		"http://[::1]:8080", "http://[::ffff:127.0.0.1]:80",
	}
	refused := []string{
		"http://10.0.0.1:8080", "http://example.com", "http://localhost.example.com", "http://[::2]:80",
		"http://0.0.0.0:8080", "http://127.0.0.1.nip.io", "http://192.168.1.10",
	}
	for _, u := range allowed {
		if _, err := checkTarget(u, false); err != nil {
			t.Errorf("checkTarget(%q) = %v, want accepted", u, err)
		}
	}
	for _, u := range refused {
		_, err := checkTarget(u, false)
		if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
			t.Errorf("checkTarget(%q) = %v, want a refusal naming --allow-remote", u, err)
		}
		if _, err := checkTarget(u, true); err != nil {
			t.Errorf("checkTarget(%q, allowRemote) = %v", u, err)
		}
	}
	for _, u := range []string{"ftp://127.0.0.1", "127.0.0.1:8080", "http://", "http://127.0.0.1/?x=1"} {
		if _, err := checkTarget(u, true); err == nil {
			t.Errorf("checkTarget(%q) accepted", u)
		}
	}
}

func TestRunRefusesRemoteTargets(t *testing.T) {
	for _, args := range [][]string{
		{"--issuer", "http://example.com", "--mix", "signin=1", "--requests", "1"},
		{"--issuer", "http://127.0.0.1:1", "--api", "http://10.1.1.1:8081", "--requests", "1"},
	} {
		err := run(t.Context(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("run(%q) = %v, want a loopback refusal", args, err)
		}
	}
}

func TestParseArgs(t *testing.T) {
	cfg, err := parseArgs([]string{
		"--issuer", "http://127.0.0.1:1,http://127.0.0.1:2/", "--issuer", "http://localhost:3",
		"--api", "http://127.0.0.1:4", "--rate", "100/s", "--duration", "10s",
		"--rotate-every", "10s", "--rotate-cmd", `"/opt/my bin/signet" keys rotate --now`,
		"--max-error-rate", "5%",
	}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://localhost:3"}; !slices.Equal(cfg.issuers, want) {
		t.Errorf("issuers = %q, want %q", cfg.issuers, want)
	}
	if cfg.rate != 100 || cfg.concurrency != 10 || cfg.duration != 10*time.Second || cfg.maxErrorRate != 0.05 || cfg.maxFailed != 0.01 {
		t.Errorf("rate %v, concurrency %d, duration %v, max error rate %v, max failed %v", cfg.rate, cfg.concurrency, cfg.duration, cfg.maxErrorRate, cfg.maxFailed)
	}
	if want := []string{"/opt/my bin/signet", "keys", "rotate", "--now"}; !slices.Equal(cfg.rotateCmd, want) {
		t.Errorf("rotateCmd = %q, want %q", cfg.rotateCmd, want)
	}

	bad := map[string][]string{
		"no issuer":           {"--requests", "1", "--mix", "signin=1"},
		"no bound":            {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1"},
		"too long":            {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--duration", "2h"},
		"api without --api":   {"--issuer", "http://127.0.0.1:1", "--requests", "1"},
		"rotate without cmd":  {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--rotate-every", "1s"},
		"cmd without rotate":  {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--rotate-cmd", "true"},
		"unterminated quote":  {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--rotate-every", "1s", "--rotate-cmd", `"x`},
		"error rate above 1":  {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--max-error-rate", "2"},
		"max failed not a %":  {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--max-failed", "lots"},
		"negative requests":   {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "-1"},
		"zero timeout":        {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--timeout", "0s"},
		"stray argument":      {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "extra"},
		"concurrency too big": {"--issuer", "http://127.0.0.1:1", "--mix", "signin=1", "--requests", "1", "--concurrency", "100000"},
	}
	for name, args := range bad {
		if _, err := parseArgs(args, io.Discard, io.Discard); err == nil {
			t.Errorf("%s: parseArgs(%q) accepted", name, args)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	tests := map[string][]string{
		"signet keys rotate":                {"signet", "keys", "rotate"},
		`  a  'b c'  "d 'e'" f\ g `:         {"a", "b c", "d 'e'", "f g"},
		`/bin/sh -c "exit 3"`:               {"/bin/sh", "-c", "exit 3"},
		`"" x`:                              {"", "x"},
		"/tmp/bin/signet keys rotate --now": {"/tmp/bin/signet", "keys", "rotate", "--now"},
	}
	for in, want := range tests {
		got, err := splitCommand(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "   ", `"open`, `trailing\`} {
		if _, err := splitCommand(in); err == nil {
			t.Errorf("splitCommand(%q) accepted", in)
		}
	}
}
