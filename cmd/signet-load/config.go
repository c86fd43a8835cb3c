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
	targets      []target // resource servers, round-robin
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

	// Sign-out reach (reach.go): signouts > 0 turns it on.
	signouts       int
	signoutsOut    string
	signoutWorkers int
	reachTimeout   time.Duration
	// The feed follower (feed.go): its issuers, in failover order.
	feedIssuers []string
	// Idle verifiers (followers.go): followers > 0 turns the mode on.
	followers       int
	followerTimeout time.Duration
	cpuPID          int
}

// target is a resource server: its base URL, the path of its identity
// endpoint, and the resource (RFC 8707) and scope its access tokens are
// asked for ("" for the issuer's default).
type target struct {
	base, path, resource, scope string
}

func (t target) url() string { return t.base + t.path }

// key is the token a target needs: one per resource and scope.
func (t target) key() string { return t.resource + " " + t.scope }

func (t target) String() string {
	s := t.url()
	if t.resource != "" {
		s += " resource=" + t.resource
	}
	if t.scope != "" {
		s += " scope=" + t.scope
	}
	return s
}

// parseTarget reads "URL[,path=P][,resource=R][,scope=S]"; the path
// defaults to defPath.
func parseTarget(s, defPath string, allowRemote bool) (target, error) {
	parts := strings.Split(s, ",")
	base, err := checkTarget(strings.TrimSpace(parts[0]), allowRemote)
	if err != nil {
		return target{}, err
	}
	t := target{base: base, path: defPath}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		v = strings.TrimSpace(v)
		switch {
		case !ok || v == "":
			return target{}, fmt.Errorf("%q: %q is not key=value (path, resource or scope)", s, p)
		case k == "path" && strings.HasPrefix(v, "/"):
			t.path = v
		case k == "path":
			return target{}, fmt.Errorf("%q: path %q must start with /", s, v)
		case k == "resource":
			t.resource = v
		case k == "scope":
			t.scope = v
		default:
			return target{}, fmt.Errorf("%q: unknown key %q (want path, resource or scope)", s, k)
		}
	}
	return t, nil
}

// targetFlag collects --target values as given.
type targetFlag []string

func (f *targetFlag) String() string { return strings.Join(*f, " ") }

func (f *targetFlag) Set(s string) error {
	*f = append(*f, s)
	return nil
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

Resource servers are --api URLs (tokens for the issuer's default resource) or
--target URL,path=P,resource=R,scope=S (each session asks for a token per
resource with resource= on sign-in and refresh).

--signouts N measures how fast a sign-out reaches the resource servers: beside
the load, sessions are signed out one after another and each target is called
with the ended session's token until it answers 401; --feed-issuer adds a feed
follower that moves between issuer replicas. --followers N runs N idle
verifiers instead of the load and reports their requests, bytes and, with
--cpu-pid, the issuer's CPU time.

Targets must be loopback addresses unless --allow-remote is given.`

func parseArgs(args []string, stdout, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("signet-load", flag.ContinueOnError)
	var issuers, apis, feedIssuers listFlag
	var targets targetFlag
	fs.Var(&issuers, "issuer", "issuer base `URL` (repeatable or comma-separated; requests go round-robin)")
	fs.Var(&apis, "api", "resource server base `URL` (repeatable or comma-separated; round-robin), called with tokens for the default resource")
	fs.Var(&targets, "target", "resource server `URL[,path=P][,resource=R][,scope=S]` (repeatable; round-robin with --api), called with an access token asked for resource R and scope S")
	apiPath := fs.String("api-path", "/api/me", "default path of the resource servers' identity endpoint")
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
	signouts := fs.Int("signouts", 0, "measure sign-out reach: sign out this many sessions (at most 100000) while the workers load, and time each until every target refuses its access token; the run ends when they are done")
	signoutsOut := fs.String("signouts-out", "", "with --signouts: write a line per sign-out to `FILE`: the Unix time of its 204 in ms, the outcome (reached, not_reached or the refusal), and the slowest target's time in ms")
	signoutWorkers := fs.Int("signout-workers", 4, "sessions signed out at once with --signouts")
	reachTimeout := fs.Duration("reach-timeout", 10*time.Second, "with --signouts: how long a sign-out is followed before it counts as not reached")
	fs.Var(&feedIssuers, "feed-issuer", "follow the revocation feed at these issuer `URL`s, in failover order, and check that it serves every sign-out (repeatable; with --signouts)")
	followers := fs.Int("followers", 0, "idle-verifier mode: run this many verifiers (at most 1000) that follow the first issuer's revocation feed for --duration, each from its own 127.0.x.y address, and report their requests and bytes")
	cpuPID := fs.Int("cpu-pid", 0, "with --followers: read this process's CPU time (Linux /proc) over the measuring window, e.g. the issuer's `PID`")
	followerTimeout := fs.Duration("follower-timeout", 10*time.Second, "with --followers: the verifiers' HTTP client timeout (their long-poll is 2 s shorter, at most 25 s)")
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

		signouts:        *signouts,
		signoutsOut:     *signoutsOut,
		signoutWorkers:  *signoutWorkers,
		reachTimeout:    *reachTimeout,
		followers:       *followers,
		followerTimeout: *followerTimeout,
		cpuPID:          *cpuPID,
	}
	var err error
	if cfg.mix, err = parseMix(*mixStr); err != nil {
		return config{}, err
	}
	if len(issuers) == 0 {
		return config{}, errors.New("at least one --issuer is required")
	}
	if cfg.mix.weights[opAPI] > 0 && len(apis)+len(targets) == 0 && *followers == 0 {
		return config{}, errors.New("the mix has api calls but no --api or --target is given")
	}
	if !strings.HasPrefix(*apiPath, "/") {
		return config{}, fmt.Errorf("api-path %q must start with /", *apiPath)
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
		cfg.targets = append(cfg.targets, target{base: base, path: *apiPath})
	}
	for _, s := range targets {
		t, err := parseTarget(s, *apiPath, cfg.allowRemote)
		if err != nil {
			return config{}, fmt.Errorf("target: %w", err)
		}
		cfg.targets = append(cfg.targets, t)
	}
	for _, u := range feedIssuers {
		base, err := checkTarget(u, cfg.allowRemote)
		if err != nil {
			return config{}, fmt.Errorf("feed-issuer: %w", err)
		}
		cfg.feedIssuers = append(cfg.feedIssuers, base)
	}
	switch {
	case cfg.signouts < 0 || cfg.signouts > 100000:
		return config{}, errors.New("signouts must be from 0 to 100000")
	case cfg.signouts > 0 && len(cfg.targets) == 0:
		return config{}, errors.New("--signouts needs at least one --api or --target to time")
	case cfg.signoutWorkers < 1 || cfg.signoutWorkers > 256:
		return config{}, errors.New("signout-workers must be from 1 to 256")
	case cfg.reachTimeout <= 0 || cfg.reachTimeout > 5*time.Minute:
		return config{}, errors.New("reach-timeout must be positive and at most 5m")
	case cfg.signoutsOut != "" && cfg.signouts == 0:
		return config{}, errors.New("--signouts-out goes with --signouts")
	case len(cfg.feedIssuers) > 0 && cfg.signouts == 0:
		return config{}, errors.New("--feed-issuer goes with --signouts")
	case cfg.followers < 0 || cfg.followers > 1000:
		return config{}, errors.New("followers must be from 0 to 1000")
	case cfg.followers > 0 && cfg.signouts > 0:
		return config{}, errors.New("--followers and --signouts are separate runs")
	case cfg.followerTimeout < 3*time.Second || cfg.followerTimeout > time.Minute:
		return config{}, errors.New("follower-timeout must be from 3s to 1m")
	case cfg.cpuPID < 0 || (cfg.cpuPID > 0 && cfg.followers == 0):
		return config{}, errors.New("--cpu-pid goes with --followers")
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
