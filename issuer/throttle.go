package issuer

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"strconv"
	"time"
)

// ThrottlePolicy is the brute-force control on sign-in. Failures are
// counted per account (normalised email, known or not) and per client
// address in the store, so every replica sees them. After Free failures
// each new failure blocks the key for BaseDelay·2^(n-Free-1), capped at
// MaxDelay; a blocked caller is refused before any password is checked.
type ThrottlePolicy struct {
	// AccountFree is the failures per account before delays start; 5.
	AccountFree int
	// IPFree is the failures per client address before delays start; 20.
	IPFree int
	// BaseDelay is the first delay; 1s.
	BaseDelay time.Duration
	// MaxDelay caps the delay; 15m.
	MaxDelay time.Duration
	// Reset starts a count over when its last failure is this old; 24h.
	Reset time.Duration
}

// WithDefaults fills in the zero fields.
func (p ThrottlePolicy) WithDefaults() ThrottlePolicy {
	if p.AccountFree <= 0 {
		p.AccountFree = 5
	}
	if p.IPFree <= 0 {
		p.IPFree = 20
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 15 * time.Minute
	}
	if p.Reset <= 0 {
		p.Reset = 24 * time.Hour
	}
	return p
}

// delay is how long a key with n failures is blocked.
func (p ThrottlePolicy) delay(n, free int) time.Duration {
	if n <= free {
		return 0
	}
	shift := n - free - 1
	if shift >= 62 || p.BaseDelay > time.Duration(math.MaxInt64>>shift) {
		return p.MaxDelay
	}
	return min(p.BaseDelay<<shift, p.MaxDelay)
}

// Throttle holds the limits on what an attacker can hammer: the sign-in
// throttle in the store (shared by every replica) and per-address rate
// limits in memory (per replica; they guard the replica's own bcrypt time
// and database reads).
type Throttle struct {
	store   ThrottleStore
	audit   *Auditor
	metrics *Metrics
	now     func() time.Time
	policy  ThrottlePolicy
	v6bits  int // Config.IPv6Prefix

	signups         *limiter
	refreshFailures *limiter
}

func newThrottle(cfg Config, store ThrottleStore, audit *Auditor) *Throttle {
	return &Throttle{
		store: store, audit: audit, metrics: cfg.Metrics, now: cfg.Now, policy: cfg.Throttle, v6bits: cfg.IPv6Prefix,
		signups:         newLimiter(cfg.SignupLimit, RateLimit{Burst: 20, Per: time.Minute}),
		refreshFailures: newLimiter(cfg.RefreshFailureLimit, RateLimit{Burst: 30, Per: time.Minute}),
	}
}

// Policy is the sign-in throttle's policy, defaults filled in.
func (t *Throttle) Policy() ThrottlePolicy { return t.policy }

// throttleKeys are the counters a sign-in attempt touches: the account
// (only for a well-formed email: no account can have any other) and the
// client address.
type throttleKeys struct {
	account, ip string
}

func (t *Throttle) keysFor(caller Caller, rawEmail string) throttleKeys {
	k := throttleKeys{ip: "ip:" + t.addrKey(caller.IP)}
	if email, err := NormalizeEmail(rawEmail); err == nil {
		k.account = "acct:" + email
	}
	return k
}

func (k throttleKeys) list() []string {
	if k.account == "" {
		return []string{k.ip}
	}
	return []string{k.account, k.ip}
}

// addrKey is what per-address limits count a client by: its IPv4
// address, or its IPv6 network of Config.IPv6Prefix bits (one host
// usually holds a whole /64). An IPv4-mapped IPv6 address counts as the
// IPv4 address, and a zone is dropped. Anything unparsable is its own key.
func (t *Throttle) addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(t.v6bits) // v6bits is 1 to 128 (Config)
	return p.String()
}

// check refuses while any of the keys is blocked.
func (t *Throttle) check(ctx context.Context, caller Caller, k throttleKeys) error {
	until, err := t.store.SigninBlockedUntil(ctx, k.list())
	if err != nil {
		return err
	}
	wait := until.Sub(t.now())
	if wait <= 0 {
		return nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	t.audit.Record(ctx, caller, AuditEvent{Type: "signin_throttled", Detail: map[string]string{"retry_after": strconv.Itoa(secs)}})
	return tooManyRequests("too many failed sign-ins; try again later", time.Duration(secs)*time.Second)
}

// recordFailure counts a failed sign-in against each key and blocks the
// keys that ran out of free failures. Counting is best effort: a store
// error is logged, and the caller still gets its refusal.
func (t *Throttle) recordFailure(ctx context.Context, k throttleKeys) {
	ctx = context.WithoutCancel(ctx)
	now := t.now()
	p := t.policy
	count := func(key, kind string, free int) {
		if key == "" {
			return
		}
		n, err := t.store.RecordSigninFailure(ctx, key, now, now.Add(-p.Reset))
		if err != nil {
			t.audit.log.ErrorContext(ctx, "sign-in failure not counted", "error", err)
			return
		}
		if d := p.delay(n, free); d > 0 {
			if err := t.store.BlockSignin(ctx, key, now.Add(d)); err != nil {
				t.audit.log.ErrorContext(ctx, "sign-in block not stored", "error", err)
				return
			}
			t.metrics.SigninBlocks.WithLabelValues(kind).Inc()
		}
	}
	count(k.account, "account", p.AccountFree)
	count(k.ip, "ip", p.IPFree)
}

// clear forgets the account's failures after a good sign-in.
func (t *Throttle) clear(ctx context.Context, k throttleKeys) {
	if k.account == "" {
		return
	}
	if err := t.store.ClearSigninFailures(context.WithoutCancel(ctx), k.account); err != nil {
		t.audit.log.ErrorContext(ctx, "sign-in failures not cleared", "error", err)
	}
}

// takeSignup spends one of the caller's sign-ups, or refuses.
func (t *Throttle) takeSignup(caller Caller) error {
	if wait := t.signups.take(t.addrKey(caller.IP), t.now()); wait > 0 {
		return tooManyRequests("too many sign-ups from this address; try again later", wait)
	}
	return nil
}

// tokenLookup is one look-up of a presented refresh or access token,
// holding a token of the caller's budget of bad tokens.
type tokenLookup struct {
	t *Throttle
	r reservation
}

// tokenQueueWait is how long a token look-up waits for the look-ups in
// flight from its address to settle when they hold the whole budget.
const tokenQueueWait = 2 * time.Second

// startTokenLookup takes one of the caller's tokens before a presented
// refresh token is looked up (refresh, RFC 7009 revocation: one budget
// for both), or refuses. A burst of concurrent guesses cannot overspend
// the budget: each holds its token until settle. Requests beyond the
// tokens held in flight wait for those to settle (up to tokenQueueWait):
// many tabs refreshing at once are good tokens, and get theirs back.
func (t *Throttle) startTokenLookup(ctx context.Context, caller Caller) (tokenLookup, error) {
	var timeout <-chan time.Time
	for {
		r, wait, settled := t.refreshFailures.reserve(t.addrKey(caller.IP), t.now())
		switch {
		case settled != nil:
			if timeout == nil {
				timer := time.NewTimer(tokenQueueWait)
				defer timer.Stop()
				timeout = timer.C
			}
			select {
			case <-settled:
				continue
			case <-timeout:
			case <-ctx.Done():
			}
			wait = time.Second
		case wait == 0:
			return tokenLookup{t: t, r: r}, nil
		}
		return tokenLookup{}, tooManyRequests("too many invalid tokens from this address; try again later", wait)
	}
}

// settle spends the token when the presented token was bad, and gives it
// back when it was good (or the look-up failed for another reason).
func (l tokenLookup) settle(bad bool) {
	if l.t != nil {
		l.r.settle(bad, l.t.now())
	}
}

// isRejection reports an error that refuses a presented token (as
// opposed to an outage).
func isRejection(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason != ""
}
