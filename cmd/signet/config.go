package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/keys"
	"github.com/signet-auth/signet/verifier"
)

// setting is one configuration value, defined once: its environment
// variable, the flag that overrides it ("" keeps a secret out of the
// process list), its default, its help, the commands that read it, and
// parse, which checks a value and stores it in the config.
type setting struct {
	env, flag, def, help string
	cmds                 []string
	// parse is called once per load with the value in force; an empty
	// value (no default, nothing given) is not parsed. Its error says what
	// is wrong; the caller puts the setting's name in front.
	parse func(v string) error
}

// The commands that read settings.
var (
	serveOnly  = []string{"serve"}
	withKeys   = []string{"serve", "keys"}
	withKEK    = []string{"serve", "keys", "users", "kek"}
	withStore  = []string{"serve", "migrate", "keys", "users", "check-emails", "kek", "sessions", "resources", "clients"}
	withLogger = []string{"serve", "keys", "kek"}
	migrating  = []string{"serve", "keys", "users", "resources", "clients"}
	// The registry commands know the default resource from the audience.
	withAudience = []string{"serve", "resources", "clients"}
	// Commands that revoke record events that live the access-token
	// lifetime plus the leeway (store.RevocationLifetime).
	withTokenLifetime = []string{"serve", "keys", "users", "sessions"}
)

// settings defines every setting, each parsing into c. addSettings calls
// it on a throwaway config for the names, flags and help.
func (c *config) settings() []setting {
	return append([]setting{
		{env: "SIGNET_ADDR", flag: "addr", def: "127.0.0.1:8080", help: "listen address", cmds: withAudience,
			parse: hostPort(&c.Addr)},
		{env: "SIGNET_ISSUER_URL", flag: "issuer-url", help: "iss claim and discovery base (default http:// + the address)", cmds: withAudience,
			parse: issuerURL(&c.IssuerURL)},
		{env: "SIGNET_AUDIENCE", flag: "audience", help: "aud claim, comma-separated for several (default the issuer URL)", cmds: withAudience,
			parse: list(&c.Audience, "audience", func(s string) (string, error) { return s, nil })},
		{env: "SIGNET_DATA_DIR", flag: "data-dir", def: "./signet-data", help: "embedded SQLite store and its generated key-encryption key", cmds: withStore,
			parse: text(&c.DataDir)},
		{env: "SIGNET_DATABASE_URL", flag: "database-url", help: "postgres://... or the libpq key=value form for Postgres, sqlite://PATH for SQLite (default a SQLite file in the data dir)", cmds: withStore,
			parse: databaseURL(&c.DatabaseURL, &c.db)},
		{env: "SIGNET_DB_STATEMENT_TIMEOUT", flag: "db-statement-timeout", def: "5s", help: "longest a database statement may run before the request gets 503 (0: none)", cmds: withStore,
			parse: duration(&c.DBStatementTimeout, 0, time.Hour)},
		{env: "SIGNET_KEY_ENCRYPTION_KEY", help: "32 bytes, base64: encrypts private keys at rest", cmds: withKEK,
			parse: text(&c.kekB64)},
		{env: "SIGNET_INTROSPECTION_TOKEN", help: "bearer credential resource servers present to POST /oauth/introspect (unset: introspection off)", cmds: serveOnly,
			parse: text(&c.IntrospectionToken)},
		{env: "SIGNET_KEY_ENCRYPTION_KEY_FILE", flag: "key-encryption-key-file", help: "file holding the key-encryption key", cmds: withKEK,
			parse: text(&c.kekFile)},
		{env: "SIGNET_SIGNING_ALG", flag: "signing-alg", def: "EdDSA", help: "EdDSA or RS256", cmds: withKeys,
			parse: oneOf(&c.SigningAlg, func(v string) error {
				if keys.ValidAlg(v) != nil {
					return fmt.Errorf("%q is not supported (want EdDSA or RS256)", v)
				}
				return nil
			})},
		{env: "SIGNET_RSA_BITS", flag: "rsa-bits", def: "2048", help: "RSA key size: 2048, 3072 or 4096", cmds: withKeys,
			parse: integer(&c.RSABits, func(n int) error {
				if keys.ValidRSABits(n) != nil {
					return fmt.Errorf("must be 2048, 3072 or 4096, got %d", n)
				}
				return nil
			})},
		{env: "SIGNET_BCRYPT_COST", flag: "bcrypt-cost", def: "12", help: "bcrypt cost, 4 to 31", cmds: withMail,
			parse: integer(&c.BcryptCost, between(4, 31))},
		{env: "SIGNET_BCRYPT_CONCURRENCY", flag: "bcrypt-concurrency", help: "password hashes computed at once (sign-in, sign-up); default 2 × the CPUs Go uses", cmds: serveOnly,
			parse: integer(&c.BcryptConcurrency, between(1, 4096))},
		{env: "SIGNET_BCRYPT_QUEUE_WAIT", flag: "bcrypt-queue-wait", def: "2s", help: "how long a request waits for a password-hash slot before it gets 503", cmds: serveOnly,
			parse: duration(&c.BcryptQueueWait, time.Millisecond, time.Minute)},
		{env: "SIGNET_SIGNIN_THROTTLE", flag: "signin-throttle", def: defaultThrottle, help: "sign-in brute-force delays: failures free per account and per address, first and longest delay, and the age at which a count starts over; keys left out keep their default", cmds: serveOnly,
			parse: throttle(&c.Throttle)},
		{env: "SIGNET_ACCESS_TOKEN_TTL", flag: "access-token-ttl", def: "15m", help: "access-token lifetime", cmds: withTokenLifetime,
			parse: accessTokenTTL(&c.AccessTokenTTL)},
		{env: "SIGNET_REFRESH_TOKEN_TTL", flag: "refresh-token-ttl", def: "168h", help: "session idle lifetime, extended by each refresh", cmds: serveOnly,
			parse: duration(&c.RefreshTokenTTL, time.Second, 0)},
		{env: "SIGNET_SESSION_MAX_AGE", flag: "session-max-age", def: "720h", help: "absolute session lifetime", cmds: serveOnly,
			parse: duration(&c.SessionMaxAge, time.Second, 0)},
		{env: "SIGNET_REFRESH_REUSE_GRACE", flag: "refresh-reuse-grace", def: "10s", help: "window in which a repeated refresh token gets the same successor", cmds: serveOnly,
			parse: duration(&c.RefreshReuseGrace, 0, 0)},
		{env: "SIGNET_REFRESH_KEY_ROTATION_PERIOD", flag: "refresh-key-rotation-period", def: "720h", help: "how long a refresh MAC key MACs new refresh tokens before the next one does (at least 1h)", cmds: serveOnly,
			parse: duration(&c.RefreshKeyRotationPeriod, issuer.MinRefreshKeyRotationPeriod, 0)},
		{env: "SIGNET_ROTATION_PERIOD", flag: "rotation-period", def: "168h", help: "how long a key signs before the next takes over", cmds: withKeys,
			parse: duration(&c.RotationPeriod, time.Second, 0)},
		{env: "SIGNET_JWKS_MAX_AGE", flag: "jwks-max-age", def: "5m", help: "ceiling of the JWKS Cache-Control max-age", cmds: withKeys,
			parse: duration(&c.JWKSMaxAge, 0, 0)},
		{env: "SIGNET_KEY_RELOAD_INTERVAL", flag: "key-reload-interval", def: "10s", help: "how often each replica reloads keys", cmds: withKeys,
			parse: duration(&c.KeyReloadInterval, 100*time.Millisecond, 0)},
		{env: "SIGNET_CLOCK_LEEWAY", flag: "clock-leeway", def: "30s", help: "clock skew verifiers allow", cmds: withTokenLifetime,
			parse: duration(&c.ClockLeeway, 0, 0)},
		{env: "SIGNET_SIGNUP_LIMIT", flag: "signup-limit", def: "20/1m", help: "sign-ups per client address: N/duration, or off", cmds: serveOnly,
			parse: rateLimit(&c.SignupLimit)},
		{env: "SIGNET_REFRESH_FAILURE_LIMIT", flag: "refresh-failure-limit", def: "30/1m", help: "rejected refresh and revocation tokens per client address: N/duration, or off", cmds: serveOnly,
			parse: rateLimit(&c.RefreshLimit)},
		{env: "SIGNET_AUTHORIZATION_CODE_LIMIT", flag: "authorization-code-limit", def: "60/1m", help: "authorization codes issued per user: N/duration, or off", cmds: serveOnly,
			parse: rateLimit(&c.CodeLimit)},
		{env: "SIGNET_BROWSER_SESSION_TTL", flag: "browser-session-ttl", def: "12h", help: "how long a sign-in at the issuer's pages serves later authorization requests (single sign-on), 1m to 720h", cmds: serveOnly,
			parse: duration(&c.BrowserSessionTTL, time.Minute, 720*time.Hour)},
		{env: "SIGNET_IPV6_PREFIX", flag: "ipv6-prefix", def: "64", help: "IPv6 clients are counted per network of this prefix length by every per-address limit (1 to 128)", cmds: serveOnly,
			parse: integer(&c.IPv6Prefix, between(1, 128))},
		{env: "SIGNET_REGISTRY_FILE", flag: "registry-file", help: "JSON file declaring resources and clients, applied at start (idempotent; removes what it does not name only with \"prune\": true)", cmds: serveOnly,
			parse: text(&c.RegistryFile)},
		{env: "SIGNET_TRUSTED_PROXIES", flag: "trusted-proxies", help: "CIDRs whose X-Forwarded-For is believed, comma-separated", cmds: serveOnly,
			parse: prefixes(&c.TrustedProxies)},
		{env: "SIGNET_CORS_ORIGINS", flag: "cors-origins", help: "browser origins allowed to call the API, comma-separated", cmds: serveOnly,
			parse: list(&c.CORSOrigins, "", origin)},
		{env: "SIGNET_PAGE_TEMPLATES", flag: "page-templates", help: "directory of templates (base.html, signin.html, signup.html, forgot.html, message.html, logout.html, error.html, link.html, reset.html, style.css) that replace the embedded pages, file by file", cmds: serveOnly,
			parse: func(v string) error {
				if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
					return fmt.Errorf("%q is not a directory", v)
				}
				c.PageTemplates = v
				return nil
			}},
		{env: "SIGNET_MAX_CONNS_PER_IP", flag: "max-conns-per-ip", def: "256", help: "open connections per client address (IPv6: per /64), or off", cmds: serveOnly,
			parse: connLimit(&c.MaxConnsPerIP)},
		{env: "SIGNET_SHUTDOWN_DRAIN", flag: "shutdown-drain", def: "5s", help: "on SIGTERM, how long /readyz answers 503 while requests are still served, before the listener closes", cmds: serveOnly,
			parse: duration(&c.ShutdownDrain, 0, 5*time.Minute)},
		{env: "SIGNET_AUTO_MIGRATE", flag: "auto-migrate", def: "true", help: "apply pending migrations at start-up", cmds: migrating,
			parse: boolean(&c.AutoMigrate)},
		{env: "SIGNET_LOG_FORMAT", flag: "log-format", help: "json or text (default text when stderr is a terminal, json otherwise)", cmds: withLogger,
			parse: oneOf(&c.LogFormat, func(v string) error {
				if v != "json" && v != "text" {
					return fmt.Errorf("must be json or text, got %q", v)
				}
				return nil
			})},
		{env: "SIGNET_LOG_LEVEL", flag: "log-level", def: "info", help: "debug, info, warn or error", cmds: withLogger,
			parse: func(v string) error {
				if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
					return fmt.Errorf("must be debug, info, warn or error, got %q", v)
				}
				return nil
			}},
	}, c.lifecycleSettings()...)
}

// config is the validated configuration.
type config struct {
	Addr              string
	IssuerURL         string // empty: http:// + the bound address
	Audience          []string
	DataDir           string
	DatabaseURL       string
	db                store.Target
	kekB64, kekFile   string
	SigningAlg        string
	RSABits           int
	BcryptCost        int
	BcryptConcurrency int // 0: the issuer's default
	BcryptQueueWait   time.Duration
	Throttle          issuer.ThrottlePolicy
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	SessionMaxAge     time.Duration
	RefreshReuseGrace time.Duration
	// RefreshKeyRotationPeriod is how long a refresh MAC key is the newest.
	RefreshKeyRotationPeriod time.Duration
	RotationPeriod           time.Duration
	JWKSMaxAge               time.Duration
	KeyReloadInterval        time.Duration
	ClockLeeway              time.Duration
	TrustedProxies           []netip.Prefix
	SignupLimit              issuer.RateLimit
	RefreshLimit             issuer.RateLimit
	CodeLimit                issuer.RateLimit
	BrowserSessionTTL        time.Duration
	CORSOrigins              []string
	PageTemplates            string // a directory; "" for the embedded pages
	MaxConnsPerIP            int    // 0: no limit
	IPv6Prefix               int
	ShutdownDrain            time.Duration
	// DBStatementTimeout bounds each database statement (store.StatementTimeout).
	DBStatementTimeout time.Duration
	AutoMigrate        bool
	LogFormat          string // empty: text on a terminal, else json
	LogLevel           slog.Level
	RegistryFile       string
	Lifecycle          lifecycleConfig

	// IntrospectionToken is a secret: environment only, never logged.
	IntrospectionToken string
}

// source resolves the settings of one command: a flag that was set, else a
// non-empty environment variable, else the default.
type source struct {
	fs     *flag.FlagSet
	vals   map[string]*string // flag values by variable
	reads  map[string]bool    // the variables this command reads
	getenv func(string) string
}

// addSettings registers on fs the flags of the settings its command reads
// (fs.Name() is the command), or of the named settings only.
func addSettings(fs *flag.FlagSet, getenv func(string) string, names ...string) *source {
	src := &source{fs: fs, vals: map[string]*string{}, reads: map[string]bool{}, getenv: getenv}
	for _, s := range commandSettings(fs.Name(), names...) {
		src.reads[s.env] = true
		if s.flag == "" {
			continue
		}
		def := ""
		if s.def != "" {
			def = " (default " + s.def + ")"
		}
		src.vals[s.env] = fs.String(s.flag, "", s.help+"; env "+s.env+def)
	}
	return src
}

// commandSettings lists the settings a command reads, or the named ones.
func commandSettings(cmd string, names ...string) []setting {
	var out []setting
	for _, s := range new(config).settings() {
		if (len(names) == 0 && slices.Contains(s.cmds, cmd)) || slices.Contains(names, s.env) {
			out = append(out, s)
		}
	}
	return out
}

// get returns a setting's value and its name for messages: the flag and
// its variable when the flag gave the value.
func (src *source) get(s setting) (val, name string) {
	if p, ok := src.vals[s.env]; ok && src.flagSet(s.flag) {
		return strings.TrimSpace(*p), "--" + s.flag + " (" + s.env + ")"
	}
	if v := strings.TrimSpace(src.getenv(s.env)); v != "" {
		return v, s.env
	}
	return s.def, s.env
}

func (src *source) flagSet(name string) bool {
	set := false
	src.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// name is a setting's name for messages about several settings.
func (src *source) name(env string) string {
	for _, s := range new(config).settings() {
		if s.env == env && src.vals[env] != nil && src.flagSet(s.flag) {
			return "--" + s.flag + " (" + env + ")"
		}
	}
	return env
}

// loadConfig reads and checks the settings of src's command; the others
// keep their defaults. Every error names the variable (or the flag and its
// variable) and says what is wrong; all of them are reported at once.
func loadConfig(src *source) (*config, error) {
	c := &config{}
	var errs []error
	for _, s := range c.settings() {
		v, name := s.def, s.env
		if src.reads[s.env] {
			v, name = src.get(s)
		}
		if v == "" {
			continue
		}
		if err := s.parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if len(errs) == 0 {
		errs = c.check(src)
	}
	if len(errs) > 0 {
		return nil, configError{errors.Join(errs...)}
	}
	return c, nil
}

// check fills the defaults that depend on other settings and checks the
// rules that span several.
func (c *config) check(src *source) []error {
	var errs []error
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "signet.db")
		t, err := store.ParseURL(c.DatabaseURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q cannot hold the SQLite file: %w", src.name("SIGNET_DATA_DIR"), c.DataDir, err))
		}
		c.db = t
	}
	if c.kekB64 != "" && c.kekFile != "" {
		errs = append(errs, fmt.Errorf("SIGNET_KEY_ENCRYPTION_KEY: set either it or %s, not both", src.name("SIGNET_KEY_ENCRYPTION_KEY_FILE")))
	}
	errs = append(errs, c.checkLifecycle(src)...)
	if c.RefreshTokenTTL > c.SessionMaxAge {
		errs = append(errs, fmt.Errorf("%s: %s is longer than %s (%s)", src.name("SIGNET_REFRESH_TOKEN_TTL"), c.RefreshTokenTTL, src.name("SIGNET_SESSION_MAX_AGE"), c.SessionMaxAge))
	}
	if len(errs) == 0 {
		if err := c.policy().Validate(); err != nil {
			errs = append(errs, timingError(c, src, err))
		}
	}
	return errs
}

// timingError restates a key-timing violation in the settings' names (the
// flag's, when a flag gave the value), with the numbers.
func timingError(c *config, src *source, err error) error {
	p := c.policy()
	if c.RotationPeriod <= p.PublishLead() {
		return fmt.Errorf("%s: %s must be longer than %s (%s) + %s (%s) = %s, the time a new key is published before it signs",
			src.name("SIGNET_ROTATION_PERIOD"), c.RotationPeriod, src.name("SIGNET_JWKS_MAX_AGE"), c.JWKSMaxAge,
			src.name("SIGNET_KEY_RELOAD_INTERVAL"), c.KeyReloadInterval, p.PublishLead())
	}
	return err
}

func (c *config) policy() keys.Policy {
	return keys.Policy{
		// ID tokens are signed with RS256 (which OpenID Connect requires)
		// or EdDSA, whichever signs access tokens: both are kept.
		Alg: c.SigningAlg, Keep: []string{keys.RS256, keys.EdDSA}, RSABits: c.RSABits, RotationPeriod: c.RotationPeriod,
		JWKSMaxAge: c.JWKSMaxAge, ReloadInterval: c.KeyReloadInterval,
		AccessTokenTTL: c.AccessTokenTTL, Leeway: c.ClockLeeway,
	}
}

// finishAddr fills the issuer URL and audience defaults from the address
// actually bound (which differs from SIGNET_ADDR when its port is 0).
func (c *config) finishAddr(bound string) {
	if c.IssuerURL == "" {
		host, port, _ := net.SplitHostPort(bound)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost"
		}
		c.IssuerURL = "http://" + net.JoinHostPort(host, port)
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{c.IssuerURL}
	}
}

// Parsers: each returns a setting's parse function, writing into dst.

func text(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

func oneOf(dst *string, valid func(string) error) func(string) error {
	return func(v string) error {
		if err := valid(v); err != nil {
			return err
		}
		*dst = v
		return nil
	}
}

func hostPort(dst *string) func(string) error {
	return func(v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("%q is not a host:port address", v)
		}
		*dst = v
		return nil
	}
}

func issuerURL(dst *string) func(string) error {
	return func(v string) error {
		if err := checkIssuerURL(v); err != nil {
			return err
		}
		*dst = strings.TrimRight(v, "/")
		return nil
	}
}

// list reads a comma-separated list; what names the items when the list
// must not be empty ("" allows an empty one).
func list(dst *[]string, what string, item func(string) (string, error)) func(string) error {
	return func(v string) error {
		var out []string
		var errs []error
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			s, err := item(s)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, s)
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		if len(out) == 0 && what != "" {
			return fmt.Errorf("no %s in %q", what, v)
		}
		*dst = out
		return nil
	}
}

func origin(s string) (string, error) {
	s = strings.TrimRight(s, "/")
	if err := checkOrigin(s); err != nil {
		return "", fmt.Errorf("%q: %v", s, err)
	}
	return s, nil
}

func integer(dst *int, valid func(int) error) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if err := valid(n); err != nil {
			return err
		}
		*dst = n
		return nil
	}
}

func between(lo, hi int) func(int) error {
	return func(n int) error {
		if n < lo || n > hi {
			return fmt.Errorf("must be %d to %d, got %d", lo, hi, n)
		}
		return nil
	}
}

// duration reads a Go duration of at least lo and, when hi > 0, at most hi.
func duration(dst *time.Duration, lo, hi time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			return fmt.Errorf("%q is not a duration (use Go syntax such as 15m or 168h)", v)
		case d < lo:
			return fmt.Errorf("%s is too short (minimum %s)", d, lo)
		case hi > 0 && d > hi:
			return fmt.Errorf("%s is too long (maximum %s)", d, hi)
		}
		*dst = d
		return nil
	}
}

// accessTokenTTL refuses a lifetime that the project's own verifier
// refuses by default: every resource server would reject every token.
func accessTokenTTL(dst *time.Duration) func(string) error {
	parse := duration(dst, time.Second, 0)
	return func(v string) error {
		if err := parse(v); err != nil {
			return err
		}
		if *dst > verifier.DefaultMaxTokenLifetime {
			return fmt.Errorf("%s is longer than %s, the longest token lifetime resource servers accept (verifier.DefaultMaxTokenLifetime): they would refuse every token",
				*dst, verifier.DefaultMaxTokenLifetime)
		}
		return nil
	}
}

func boolean(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*dst = b
		return nil
	}
}

func databaseURL(dst *string, t *store.Target) func(string) error {
	return func(v string) error {
		parsed, err := store.ParseURL(v)
		if err != nil {
			// The value may hold a password: it is not repeated.
			return fmt.Errorf("not a database URL: use %s; unset, it is an SQLite file in SIGNET_DATA_DIR", store.AcceptedURLs)
		}
		*dst, *t = v, parsed
		return nil
	}
}

func rateLimit(dst *issuer.RateLimit) func(string) error {
	return func(v string) error {
		l, err := parseRateLimit(v)
		if err != nil {
			return err
		}
		*dst = l
		return nil
	}
}

func prefixes(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		var out []netip.Prefix
		var errs []error
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				addr, aerr := netip.ParseAddr(s)
				if aerr != nil {
					errs = append(errs, fmt.Errorf("%q is not a CIDR or IP address", s))
					continue
				}
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			out = append(out, pfx.Masked())
		}
		*dst = out
		return errors.Join(errs...)
	}
}

func connLimit(dst *int) func(string) error {
	return func(v string) error {
		if v == "off" {
			*dst = 0
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number or off", v)
		}
		*dst = n
		return nil
	}
}

// defaultThrottle is the issuer's sign-in throttle policy, spelled out.
const defaultThrottle = "account=5,ip=20,base=1s,max=15m,reset=24h"

// throttle reads "account=5,ip=20,base=1s,max=15m,reset=24h"; keys left
// out keep their default.
func throttle(dst *issuer.ThrottlePolicy) func(string) error {
	return func(v string) error {
		var p issuer.ThrottlePolicy
		for _, spec := range []string{defaultThrottle, v} {
			for part := range strings.SplitSeq(spec, ",") {
				if part = strings.TrimSpace(part); part == "" {
					continue
				}
				k, val, _ := strings.Cut(part, "=")
				k, val = strings.TrimSpace(k), strings.TrimSpace(val)
				var err error
				switch k {
				case "account":
					p.AccountFree, err = throttleCount(k, val)
				case "ip":
					p.IPFree, err = throttleCount(k, val)
				case "base":
					p.BaseDelay, err = throttleDelay(k, val)
				case "max":
					p.MaxDelay, err = throttleDelay(k, val)
				case "reset":
					p.Reset, err = throttleDelay(k, val)
				default:
					err = fmt.Errorf("%q is not key=value with a key of account, ip, base, max or reset (such as %s)", part, defaultThrottle)
				}
				if err != nil {
					return err
				}
			}
		}
		switch {
		case p.MaxDelay < p.BaseDelay:
			return fmt.Errorf("max (%s) is shorter than base (%s)", p.MaxDelay, p.BaseDelay)
		case p.Reset < p.MaxDelay:
			return fmt.Errorf("reset (%s) is shorter than max (%s): counts would start over before the longest delay ends", p.Reset, p.MaxDelay)
		}
		*dst = p
		return nil
	}
}

func throttleCount(k, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("%s: %q is not a whole number from 1 to 1000000", k, v)
	}
	return n, nil
}

func throttleDelay(k, v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration (such as 1s or 15m)", k, v)
	}
	return d, nil
}

// parseRateLimit reads "N/duration" (20/1m: 20 at once, refilled at 20 a
// minute) or "off".
func parseRateLimit(v string) (issuer.RateLimit, error) {
	if v == "off" || v == "0" {
		return issuer.RateLimit{Burst: -1}, nil
	}
	n, per, ok := strings.Cut(v, "/")
	burst, err := strconv.Atoi(n)
	d, derr := time.ParseDuration(per)
	if !ok || err != nil || derr != nil || burst < 1 || d <= 0 {
		return issuer.RateLimit{}, fmt.Errorf("%q is not N/duration (such as 20/1m) or off", v)
	}
	return issuer.RateLimit{Burst: burst, Per: d}, nil
}

func checkIssuerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must start with https:// (or http:// for development)", s)
	case u.Host == "":
		return fmt.Errorf("%q has no host", s)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q must not have a query, fragment or user info", s)
	}
	return nil
}

func checkOrigin(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return errors.New("an origin is scheme://host[:port], nothing more")
	}
	return nil
}

// keyEncryptionKey returns the key-encryption key. With the embedded SQLite
// store and none configured, the one generated into the data directory is
// used; generate creates it (mode 0600) when missing. Postgres requires
// one.
func (c *config) keyEncryptionKey(log *slog.Logger, dialect string, generate bool) ([]byte, error) {
	switch {
	case c.kekB64 != "":
		k, err := keys.ParseKEK(c.kekB64)
		if err != nil {
			return nil, configError{fmt.Errorf("SIGNET_KEY_ENCRYPTION_KEY: %v", err)}
		}
		return k, nil
	case c.kekFile != "":
		b, err := os.ReadFile(c.kekFile)
		if err != nil {
			return nil, configError{fmt.Errorf("SIGNET_KEY_ENCRYPTION_KEY_FILE: cannot read %s: %v", c.kekFile, errors.Unwrap(err))}
		}
		k, err := keys.ParseKEK(string(b))
		if err != nil {
			return nil, configError{fmt.Errorf("SIGNET_KEY_ENCRYPTION_KEY_FILE: the content of %s %v", c.kekFile, err)}
		}
		if fi, err := os.Stat(c.kekFile); err == nil && fi.Mode().Perm()&0o007 != 0 {
			log.Warn("the key-encryption key file is readable by every user of this machine; make it 0600 or 0640", "path", c.kekFile, "mode", fi.Mode().Perm().String())
		}
		return k, nil
	case dialect != store.SQLite:
		return nil, configError{errors.New("SIGNET_KEY_ENCRYPTION_KEY or SIGNET_KEY_ENCRYPTION_KEY_FILE is required with Postgres (32 random bytes, base64: openssl rand -base64 32)")}
	}
	path := filepath.Join(c.DataDir, "key-encryption-key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := keys.ParseKEK(string(b))
		if err != nil {
			return nil, fmt.Errorf("key-encryption key file %s: %v", path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	} else if !generate {
		return nil, configError{fmt.Errorf("no key-encryption key at %s, where signet serve keeps the one it generates: start signet serve once, use the SIGNET_DATA_DIR that signet serve uses, or set SIGNET_KEY_ENCRYPTION_KEY or SIGNET_KEY_ENCRYPTION_KEY_FILE", describePath(path))}
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key-encryption key file: %w", err)
	}
	kek := keys.NewKEK()
	if _, err := f.WriteString(kek + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write key-encryption key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write key-encryption key file: %w", err)
	}
	log.Warn("generated a key-encryption key for the embedded store; back it up, or set SIGNET_KEY_ENCRYPTION_KEY for production", "path", path)
	k, _ := keys.ParseKEK(kek)
	return k, nil
}

func newLogger(c *config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if logFormat(c, w) == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// logFormat is SIGNET_LOG_FORMAT, else text for a person at a terminal and
// JSON for a log collector.
func logFormat(c *config, w io.Writer) string {
	switch {
	case c.LogFormat != "":
		return c.LogFormat
	case isTerminal(w):
		return "text"
	}
	return "json"
}

// isTerminal reports whether w is a terminal (a character device other
// than /dev/null).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(fi, null)
}
