package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// op is one kind of request the tool sends.
type op int

const (
	opSignup op = iota
	opSignin
	opRefresh
	opAPI
	opJWKS
	numOps
)

var opNames = [numOps]string{"signup", "signin", "refresh", "api", "jwks"}

func (o op) String() string { return opNames[o] }

// Bounds that keep a mistyped command line from running away.
const (
	maxDuration    = time.Hour
	maxConcurrency = 10000
	maxRate        = 1e6
	maxTimeout     = time.Minute
	minRotateEvery = 100 * time.Millisecond
)

const defaultMix = "signup=1,signin=2,refresh=10,api=20"

// defaultMaxFailed is the share of failed requests above which a run fails
// unless --max-failed says otherwise.
const defaultMaxFailed = "1%"

// mix holds the relative weight of each operation.
type mix struct {
	weights [numOps]int
	total   int
}

// parseMix reads "signup=1,signin=2,refresh=10,api=20,jwks=1". Operations
// left out have weight 0; at least one weight must be positive.
func parseMix(s string) (mix, error) {
	var m mix
	var seen [numOps]bool
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return mix{}, fmt.Errorf("mix: %q is not op=weight", part)
		}
		o, ok := lookupOp(strings.TrimSpace(name))
		if !ok {
			return mix{}, fmt.Errorf("mix: unknown operation %q (want %s)", name, strings.Join(opNames[:], ", "))
		}
		if seen[o] {
			return mix{}, fmt.Errorf("mix: %s given twice", o)
		}
		seen[o] = true
		w, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || w < 0 || w > 1_000_000 {
			return mix{}, fmt.Errorf("mix: weight of %s must be an integer from 0 to 1000000, got %q", o, val)
		}
		m.weights[o] = w
		m.total += w
	}
	if m.total == 0 {
		return mix{}, errors.New("mix: no operation has a positive weight")
	}
	return m, nil
}

func lookupOp(name string) (op, bool) {
	for i, n := range opNames {
		if n == name {
			return op(i), true
		}
	}
	return 0, false
}

// pick chooses an operation with probability proportional to its weight;
// n must be uniform in [0, m.total).
func (m mix) pick(n int) op {
	for i, w := range m.weights {
		if n < w {
			return op(i)
		}
		n -= w
	}
	panic("mix.pick: n out of range")
}

func (m mix) String() string {
	var parts []string
	for i, w := range m.weights {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", opNames[i], w))
		}
	}
	return strings.Join(parts, ",")
}

// parseRate reads "200", "200/s" or "6000/m" and returns requests per second.
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s", "sec":
	case "m", "min":
		per = 60
	default:
		return 0, fmt.Errorf("rate: unknown unit %q (want /s or /m)", unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) || n <= 0 {
		return 0, fmt.Errorf("rate: %q is not a positive number", num)
	}
	r := n / per
	if r > maxRate {
		return 0, fmt.Errorf("rate: %g/s is above the limit of %g/s", r, float64(maxRate))
	}
	return r, nil
}

// parseRatio reads the value of the ratio flag name: "0.05", "5%", or
// "off" (returned as -1).
func parseRatio(name, s string) (float64, error) {
	if s == "off" {
		return -1, nil
	}
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number, a percentage or off", name, s)
	}
	if pct {
		v /= 100
	}
	if math.IsNaN(v) || v < 0 || v > 1 {
		return 0, fmt.Errorf("%s: %q is not between 0 and 1 (or 0%% and 100%%)", name, s)
	}
	return v, nil
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

type config struct {
	issuers      []string // base URLs without a trailing slash
	apis         []string // base URLs without a trailing slash
	apiPath      string
	mix          mix
	rate         float64 // requests per second; 0 means unpaced
	concurrency  int
	duration     time.Duration
	requests     int64 // 0 means no count limit
	warmup       time.Duration
	timeout      time.Duration
	rotateEvery  time.Duration
	rotateCmd    []string
	jsonOut      bool
	accountsOut  string
	allowRemote  bool
	failOnVerify bool
	maxErrorRate float64 // per operation; negative means no limit
	maxFailed    float64 // of all requests; negative means no limit
	jwksETag     bool
	progress     bool
}

var (
	// errUsage reports a command line that could not be used; the reason
	// has been printed.
	errUsage = errors.New("usage")
	// errHelp means --help was asked for and printed.
	errHelp = errors.New("help")
)

const about = `signet-load drives a Signet issuer and its resource servers with a bounded
mix of sign-ups, sign-ins, refreshes, verified API calls and JWKS fetches, then
reports throughput, latency percentiles and failures by kind.

Each worker owns a session: it signs up once, signs in, then loops over the
mix, always refreshing with the latest refresh token of its session. With
--rate the workers share a token bucket that paces every request; without it
they run as fast as the servers answer.

Targets must be loopback addresses unless --allow-remote is given.`

func parseArgs(args []string, stdout, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("signet-load", flag.ContinueOnError)
	var issuers, apis listFlag
	fs.Var(&issuers, "issuer", "issuer base `URL` (repeatable or comma-separated; requests go round-robin)")
	fs.Var(&apis, "api", "resource server base `URL` (repeatable or comma-separated; round-robin)")
	apiPath := fs.String("api-path", "/api/me", "path of the resource servers' identity endpoint")
	mixStr := fs.String("mix", defaultMix, "operation weights: signup, signin, refresh, api, jwks")
	rateStr := fs.String("rate", "", "total request `rate` (N, N/s or N/m), paced by a token bucket")
	concurrency := fs.Int("concurrency", 0, "workers (sessions); default 8, or rate/10 (at least 1, at most 256) with --rate")
	duration := fs.Duration("duration", 0, "how long to run (at most 1h); required unless --requests is set")
	requests := fs.Int64("requests", 0, "stop after this many requests")
	warmup := fs.Duration("warmup", 0, "leave requests that end in the first `D` of the run (the workers' sign-ups and sign-ins, ramp-up) out of the figures")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	rotateEvery := fs.Duration("rotate-every", 0, "run --rotate-cmd on this `interval` during the run")
	rotateCmd := fs.String("rotate-cmd", "", "key rotation `command`, split on spaces (quotes group), run without a shell")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	accountsOut := fs.String("accounts-out", "", "write the email of every account created (201) to `FILE`, one a line")
	allowRemote := fs.Bool("allow-remote", false, "allow targets outside loopback")
	failOnVerify := fs.Bool("fail-on-verify-errors", false, "exit non-zero if an access token failed verification for a reason other than expiry")
	maxErr := fs.String("max-error-rate", "off", "exit non-zero if any one operation's failure ratio exceeds this (0.01 or 1%)")
	maxFailed := fs.String("max-failed", defaultMaxFailed, "exit non-zero, with result FAIL, if more than this share of all requests failed (0.01, 1% or off)")
	jwksETag := fs.Bool("jwks-if-none-match", false, "jwks: send the last ETag seen in If-None-Match")
	progress := fs.Bool("progress", true, "print a progress line to stderr every second")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: signet-load --issuer URL [--api URL] (--duration D | --requests N) [flags]\n\n%s\n\nFlags:\n", about)
		fs.PrintDefaults()
	}

	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, errHelp
		}
		return config{}, errUsage
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	cfg := config{
		apiPath:      *apiPath,
		concurrency:  *concurrency,
		duration:     *duration,
		requests:     *requests,
		warmup:       *warmup,
		timeout:      *timeout,
		rotateEvery:  *rotateEvery,
		jsonOut:      *jsonOut,
		accountsOut:  *accountsOut,
		allowRemote:  *allowRemote,
		failOnVerify: *failOnVerify,
		jwksETag:     *jwksETag,
		progress:     *progress,
	}
	var err error
	if cfg.mix, err = parseMix(*mixStr); err != nil {
		return config{}, err
	}
	if len(issuers) == 0 {
		return config{}, errors.New("at least one --issuer is required")
	}
	if cfg.mix.weights[opAPI] > 0 && len(apis) == 0 {
		return config{}, errors.New("the mix has api calls but no --api is given")
	}
	if !strings.HasPrefix(cfg.apiPath, "/") {
		return config{}, fmt.Errorf("api-path %q must start with /", cfg.apiPath)
	}
	for _, u := range issuers {
		base, err := checkTarget(u, cfg.allowRemote)
		if err != nil {
			return config{}, fmt.Errorf("issuer: %w", err)
		}
		cfg.issuers = append(cfg.issuers, base)
	}
	for _, u := range apis {
		base, err := checkTarget(u, cfg.allowRemote)
		if err != nil {
			return config{}, fmt.Errorf("api: %w", err)
		}
		cfg.apis = append(cfg.apis, base)
	}

	if *rateStr != "" {
		if cfg.rate, err = parseRate(*rateStr); err != nil {
			return config{}, err
		}
	}
	switch {
	case cfg.concurrency < 0 || cfg.concurrency > maxConcurrency:
		return config{}, fmt.Errorf("concurrency must be from 1 to %d", maxConcurrency)
	case cfg.concurrency == 0 && cfg.rate > 0:
		cfg.concurrency = min(max(int(math.Ceil(cfg.rate/10)), 1), 256)
	case cfg.concurrency == 0:
		cfg.concurrency = 8
	}

	if cfg.duration < 0 || cfg.duration > maxDuration {
		return config{}, fmt.Errorf("duration must be positive and at most %s", maxDuration)
	}
	if cfg.requests < 0 {
		return config{}, errors.New("requests must not be negative")
	}
	if cfg.duration == 0 && cfg.requests == 0 {
		return config{}, errors.New("give --duration, --requests or both, so that the run ends")
	}
	if cfg.duration == 0 {
		cfg.duration = maxDuration
	}
	if cfg.warmup < 0 || cfg.warmup >= cfg.duration {
		return config{}, errors.New("warmup must be positive and shorter than the duration")
	}
	if cfg.timeout <= 0 || cfg.timeout > maxTimeout {
		return config{}, fmt.Errorf("timeout must be positive and at most %s", maxTimeout)
	}

	if (cfg.rotateEvery > 0) != (*rotateCmd != "") {
		return config{}, errors.New("--rotate-every and --rotate-cmd go together")
	}
	if cfg.rotateEvery > 0 {
		if cfg.rotateEvery < minRotateEvery {
			return config{}, fmt.Errorf("rotate-every must be at least %s", minRotateEvery)
		}
		if cfg.rotateCmd, err = splitCommand(*rotateCmd); err != nil {
			return config{}, err
		}
	}
	if cfg.maxErrorRate, err = parseRatio("max-error-rate", *maxErr); err != nil {
		return config{}, err
	}
	if cfg.maxFailed, err = parseRatio("max-failed", *maxFailed); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// checkTarget validates a target URL and returns it without a trailing
// slash. Unless allowRemote, the host must be loopback: a name is accepted
// only if it is "localhost", since resolving other names could send load to
// a machine nobody meant to test.
func checkTarget(raw string, allowRemote bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: scheme must be http or https", raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q has no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: give a base URL without user, query or fragment", raw)
	}
	if !allowRemote && !isLoopbackHost(u.Hostname()) {
		return "", fmt.Errorf("%q is not a loopback address (127.0.0.0/8, ::1, localhost); pass --allow-remote to load a remote server", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopbackHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(h)
	if err != nil {
		return false
	}
	return ip.WithZone("").Unmap().IsLoopback()
}

// splitCommand splits a command line on blanks; single or double quotes
// group words and a backslash takes the next character as is. There is no
// shell: no variables, globs or redirections.
func splitCommand(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\':
			escaped, inWord = true, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 || escaped {
		return nil, fmt.Errorf("rotate-cmd: unterminated quote or escape in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.New("rotate-cmd: empty command")
	}
	return words, nil
}
