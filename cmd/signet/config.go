package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/keys"
)

// setting is one configuration value: an environment variable, the flag
// that overrides it, and its default.
type setting struct {
	env, flag, def, help string
}

var settings = []setting{
	{"SIGNET_ADDR", "addr", "127.0.0.1:8080", "listen address"},
	{"SIGNET_ISSUER_URL", "issuer-url", "", "iss claim and discovery base (default http:// + the address)"},
	{"SIGNET_AUDIENCE", "audience", "", "aud claim, comma-separated for several (default the issuer URL)"},
	{"SIGNET_DATA_DIR", "data-dir", "./signet-data", "embedded SQLite store and its generated key-encryption key"},
	{"SIGNET_DATABASE_URL", "database-url", "", "postgres://... for Postgres (default a SQLite file in the data dir)"},
	{"SIGNET_KEY_ENCRYPTION_KEY", "", "", "32 bytes, base64: encrypts private keys at rest"},
	{"SIGNET_KEY_ENCRYPTION_KEY_FILE", "key-encryption-key-file", "", "file holding the key-encryption key"},
	{"SIGNET_SIGNING_ALG", "signing-alg", "EdDSA", "EdDSA or RS256"},
	{"SIGNET_RSA_BITS", "rsa-bits", "2048", "RSA key size: 2048, 3072 or 4096"},
	{"SIGNET_BCRYPT_COST", "bcrypt-cost", "12", "bcrypt cost, 4 to 31"},
	{"SIGNET_ACCESS_TOKEN_TTL", "access-token-ttl", "15m", "access-token lifetime"},
	{"SIGNET_REFRESH_TOKEN_TTL", "refresh-token-ttl", "168h", "session idle lifetime, extended by each refresh"},
	{"SIGNET_SESSION_MAX_AGE", "session-max-age", "720h", "absolute session lifetime"},
	{"SIGNET_REFRESH_REUSE_GRACE", "refresh-reuse-grace", "10s", "window in which a repeated refresh token gets the same successor"},
	{"SIGNET_ROTATION_PERIOD", "rotation-period", "168h", "how long a key signs before the next takes over"},
	{"SIGNET_JWKS_MAX_AGE", "jwks-max-age", "5m", "ceiling of the JWKS Cache-Control max-age"},
	{"SIGNET_KEY_RELOAD_INTERVAL", "key-reload-interval", "10s", "how often each replica reloads keys"},
	{"SIGNET_CLOCK_LEEWAY", "clock-leeway", "30s", "clock skew verifiers allow"},
	{"SIGNET_SIGNUP_LIMIT", "signup-limit", "20/1m", "sign-ups per client address: N/duration, or off"},
	{"SIGNET_REFRESH_FAILURE_LIMIT", "refresh-failure-limit", "30/1m", "rejected refresh tokens per client address: N/duration, or off"},
	{"SIGNET_TRUSTED_PROXIES", "trusted-proxies", "", "CIDRs whose X-Forwarded-For is believed, comma-separated"},
	{"SIGNET_CORS_ORIGINS", "cors-origins", "", "browser origins allowed to call the API, comma-separated"},
	{"SIGNET_AUTO_MIGRATE", "auto-migrate", "true", "apply pending migrations at start-up"},
	{"SIGNET_LOG_FORMAT", "log-format", "json", "json or text"},
	{"SIGNET_LOG_LEVEL", "log-level", "info", "debug, info, warn or error"},
}

// config is the validated configuration.
type config struct {
	Addr              string
	IssuerURL         string
	issuerURLSet      bool
	Audience          []string
	audienceSet       bool
	DataDir           string
	DatabaseURL       string
	kekB64, kekFile   string
	SigningAlg        string
	RSABits           int
	BcryptCost        int
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	SessionMaxAge     time.Duration
	RefreshReuseGrace time.Duration
	RotationPeriod    time.Duration
	JWKSMaxAge        time.Duration
	KeyReloadInterval time.Duration
	ClockLeeway       time.Duration
	TrustedProxies    []netip.Prefix
	SignupLimit       issuer.RateLimit
	RefreshLimit      issuer.RateLimit
	CORSOrigins       []string
	AutoMigrate       bool
	LogFormat         string
	LogLevel          slog.Level
	Lifecycle         lifecycleConfig
}

// source resolves settings: a flag that was set, else a non-empty
// environment variable, else the default.
type source struct {
	fs     *flag.FlagSet
	vals   map[string]*string
	getenv func(string) string
}

// addSettings registers the flags of the named settings (all when names is
// empty) on fs.
func addSettings(fs *flag.FlagSet, getenv func(string) string, names ...string) *source {
	src := &source{fs: fs, vals: map[string]*string{}, getenv: getenv}
	for _, s := range settings {
		if s.flag == "" || (len(names) > 0 && !contains(names, s.env)) {
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// get returns a setting's value, whether it was given, and its name for
// error messages.
func (src *source) get(env string) (val string, given bool, name string) {
	var s setting
	for _, st := range settings {
		if st.env == env {
			s = st
		}
	}
	set := false
	if p, ok := src.vals[env]; ok {
		src.fs.Visit(func(f *flag.Flag) {
			if f.Name == s.flag {
				set = true
			}
		})
		if set {
			return strings.TrimSpace(*p), true, "--" + s.flag + " (" + env + ")"
		}
	}
	if v := strings.TrimSpace(src.getenv(env)); v != "" {
		return v, true, env
	}
	return s.def, false, env
}

// loadConfig reads and validates every setting. Errors name the variable
// (or flag) and say what is wrong.
func loadConfig(src *source) (*config, error) {
	c := &config{}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	str := func(env string) string { v, _, _ := src.get(env); return v }
	dur := func(env string, min time.Duration) time.Duration {
		v, _, name := src.get(env)
		d, err := time.ParseDuration(v)
		if err != nil {
			bad(name, "%q is not a duration (use Go syntax such as 15m or 168h)", v)
			return 0
		}
		if d < min {
			bad(name, "%s is too short (minimum %s)", d, min)
		}
		return d
	}
	integer := func(env string) int {
		v, _, name := src.get(env)
		n, err := strconv.Atoi(v)
		if err != nil {
			bad(name, "%q is not a whole number", v)
		}
		return n
	}

	c.Addr = str("SIGNET_ADDR")
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		_, _, name := src.get("SIGNET_ADDR")
		bad(name, "%q is not a host:port address", c.Addr)
	}
	var given bool
	var name string
	c.IssuerURL, given, name = src.get("SIGNET_ISSUER_URL")
	c.issuerURLSet = given
	if given {
		if err := checkIssuerURL(c.IssuerURL); err != nil {
			bad(name, "%v", err)
		}
		c.IssuerURL = strings.TrimRight(c.IssuerURL, "/")
	}
	var aud string
	aud, c.audienceSet, name = src.get("SIGNET_AUDIENCE")
	if c.audienceSet {
		for _, a := range strings.Split(aud, ",") {
			if a = strings.TrimSpace(a); a != "" {
				c.Audience = append(c.Audience, a)
			}
		}
		if len(c.Audience) == 0 {
			bad(name, "no audience in %q", aud)
		}
	}
	c.DataDir = str("SIGNET_DATA_DIR")
	c.DatabaseURL = str("SIGNET_DATABASE_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "signet.db")
	}
	c.kekB64 = strings.TrimSpace(src.getenv("SIGNET_KEY_ENCRYPTION_KEY"))
	c.kekFile = str("SIGNET_KEY_ENCRYPTION_KEY_FILE")
	if c.kekB64 != "" && c.kekFile != "" {
		bad("SIGNET_KEY_ENCRYPTION_KEY", "set either it or SIGNET_KEY_ENCRYPTION_KEY_FILE, not both")
	}
	c.SigningAlg = str("SIGNET_SIGNING_ALG")
	if err := keys.ValidAlg(c.SigningAlg); err != nil {
		_, _, name := src.get("SIGNET_SIGNING_ALG")
		bad(name, "%q is not supported (want EdDSA or RS256)", c.SigningAlg)
	}
	c.RSABits = integer("SIGNET_RSA_BITS")
	if err := keys.ValidRSABits(c.RSABits); err != nil {
		_, _, name := src.get("SIGNET_RSA_BITS")
		bad(name, "must be 2048, 3072 or 4096, got %d", c.RSABits)
	}
	c.BcryptCost = integer("SIGNET_BCRYPT_COST")
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		_, _, name := src.get("SIGNET_BCRYPT_COST")
		bad(name, "must be 4 to 31, got %d", c.BcryptCost)
	}
	c.AccessTokenTTL = dur("SIGNET_ACCESS_TOKEN_TTL", time.Second)
	c.RefreshTokenTTL = dur("SIGNET_REFRESH_TOKEN_TTL", time.Second)
	c.SessionMaxAge = dur("SIGNET_SESSION_MAX_AGE", time.Second)
	c.RefreshReuseGrace = dur("SIGNET_REFRESH_REUSE_GRACE", 0)
	c.RotationPeriod = dur("SIGNET_ROTATION_PERIOD", time.Second)
	c.JWKSMaxAge = dur("SIGNET_JWKS_MAX_AGE", 0)
	c.KeyReloadInterval = dur("SIGNET_KEY_RELOAD_INTERVAL", 100*time.Millisecond)
	c.ClockLeeway = dur("SIGNET_CLOCK_LEEWAY", 0)
	if c.SessionMaxAge > 0 && c.RefreshTokenTTL > c.SessionMaxAge {
		bad("SIGNET_REFRESH_TOKEN_TTL", "%s is longer than SIGNET_SESSION_MAX_AGE (%s)", c.RefreshTokenTTL, c.SessionMaxAge)
	}
	rate := func(env string) issuer.RateLimit {
		v, _, name := src.get(env)
		l, err := parseRateLimit(v)
		if err != nil {
			bad(name, "%v", err)
		}
		return l
	}
	c.SignupLimit = rate("SIGNET_SIGNUP_LIMIT")
	c.RefreshLimit = rate("SIGNET_REFRESH_FAILURE_LIMIT")
	if p, given, name := src.get("SIGNET_TRUSTED_PROXIES"); given {
		for _, s := range strings.Split(p, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				addr, aerr := netip.ParseAddr(s)
				if aerr != nil {
					bad(name, "%q is not a CIDR or IP address", s)
					continue
				}
				pfx = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
		}
	}
	if o, given, name := src.get("SIGNET_CORS_ORIGINS"); given {
		for _, s := range strings.Split(o, ",") {
			s = strings.TrimRight(strings.TrimSpace(s), "/")
			if s == "" {
				continue
			}
			if err := checkOrigin(s); err != nil {
				bad(name, "%q: %v", s, err)
				continue
			}
			c.CORSOrigins = append(c.CORSOrigins, s)
		}
	}
	am, _, amName := src.get("SIGNET_AUTO_MIGRATE")
	b, err := strconv.ParseBool(am)
	if err != nil {
		bad(amName, "%q is not true or false", am)
	}
	c.AutoMigrate = b
	c.LogFormat = str("SIGNET_LOG_FORMAT")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		_, _, name := src.get("SIGNET_LOG_FORMAT")
		bad(name, "must be json or text, got %q", c.LogFormat)
	}
	lvl, _, lvlName := src.get("SIGNET_LOG_LEVEL")
	if err := c.LogLevel.UnmarshalText([]byte(lvl)); err != nil {
		bad(lvlName, "must be debug, info, warn or error, got %q", lvl)
	}
	c.Lifecycle = loadLifecycle(src, bad)
	if len(errs) == 0 {
		if err := c.policy().Validate(); err != nil {
			errs = append(errs, timingError(c, src, err))
		}
	}
	if len(errs) > 0 {
		return nil, configError{errors.Join(errs...)}
	}
	return c, nil
}

// timingError restates a key-timing violation in the settings' names (the
// flag's, when a flag gave the value), with the numbers.
func timingError(c *config, src *source, err error) error {
	p := c.policy()
	name := func(env string) string { _, _, n := src.get(env); return n }
	if c.RotationPeriod <= p.PublishLead() {
		return fmt.Errorf("%s: %s must be longer than %s (%s) + %s (%s) = %s, the time a new key is published before it signs",
			name("SIGNET_ROTATION_PERIOD"), c.RotationPeriod, name("SIGNET_JWKS_MAX_AGE"), c.JWKSMaxAge,
			name("SIGNET_KEY_RELOAD_INTERVAL"), c.KeyReloadInterval, p.PublishLead())
	}
	return err
}

func (c *config) policy() keys.Policy {
	return keys.Policy{
		Alg: c.SigningAlg, RSABits: c.RSABits, RotationPeriod: c.RotationPeriod,
		JWKSMaxAge: c.JWKSMaxAge, ReloadInterval: c.KeyReloadInterval,
		AccessTokenTTL: c.AccessTokenTTL, Leeway: c.ClockLeeway,
	}
}

// finishAddr fills the issuer URL and audience defaults from the address
// actually bound (which differs from SIGNET_ADDR when its port is 0).
func (c *config) finishAddr(bound string) {
	if !c.issuerURLSet {
		host, port, _ := net.SplitHostPort(bound)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost"
		}
		c.IssuerURL = "http://" + net.JoinHostPort(host, port)
	}
	if !c.audienceSet {
		c.Audience = []string{c.IssuerURL}
	}
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
// store and none configured, one is generated into the data directory
// (mode 0600) and kept there; Postgres requires one.
func (c *config) keyEncryptionKey(log *slog.Logger, dialect string) ([]byte, error) {
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
	case dialect != "sqlite":
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

func newLogger(c *config, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
