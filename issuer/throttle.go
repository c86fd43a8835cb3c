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
// counted in the store, so every replica sees them: per account
// (normalised email, known or not) and per client address for anonymous
// attempts, per device token for attempts that present a valid one (see
// devices.go). After Free failures each new failure blocks the key for
// BaseDelay·2^(n-Free-1), capped at MaxDelay; a blocked caller is refused
// before any password is checked.
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
	// AuditRetention is how long the high-volume sign-in audit events
	// (PrunedAuditEvents) are kept; 720h (30 days). Other events are kept.
	AuditRetention time.Duration
	// DeviceFree is the failures per device token before delays start;
	// 10. A blocked device token counts as no token (the attempt is
	// anonymous).
	DeviceFree int
	// DeviceTokenTTL is how long a device token is valid; 4320h (180
	// days). Each good sign-in hands out a new one.
	DeviceTokenTTL time.Duration
}

// PrunedAuditEvents are the audit event types that PruneAuditEvents
// deletes once older than AuditRetention: one row per failed password
// and per block, so as many as an attacker can cause. Security events
// (signin, session_revoked, refresh_token_reused, key events, ...) are
// never pruned. signin_throttled is no longer written; old rows go too.
var PrunedAuditEvents = []string{"signin_failed", "signin_blocked", "signin_throttled"}

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
	if p.AuditRetention <= 0 {
		p.AuditRetention = 30 * 24 * time.Hour
	}
	if p.DeviceFree <= 0 {
		p.DeviceFree = 10
	}
	if p.DeviceTokenTTL <= 0 {
		p.DeviceTokenTTL = 180 * 24 * time.Hour
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

	devices         *deviceTokens
	signups         *limiter
	refreshFailures *limiter
}

// newThrottle builds the throttle; sl seals the device key, and without
// one (administration) there are no device tokens.
func newThrottle(cfg Config, store ThrottleStore, audit *Auditor, sl sealer) *Throttle {
	return &Throttle{
		store: store, audit: audit, metrics: cfg.Metrics, now: cfg.Now, policy: cfg.Throttle, v6bits: cfg.IPv6Prefix,
		devices: &deviceTokens{
			store: store, sealer: sl, now: cfg.Now, ttl: cfg.Throttle.DeviceTokenTTL, log: audit.log,
		},
		signups:         newLimiter(cfg.SignupLimit, RateLimit{Burst: 20, Per: time.Minute}),
		refreshFailures: newLimiter(cfg.RefreshFailureLimit, RateLimit{Burst: 30, Per: time.Minute}),
	}
}

// Policy is the sign-in throttle's policy, defaults filled in.
func (t *Throttle) Policy() ThrottlePolicy { return t.policy }

// pruneBatch and pruneBatches bound one PruneAuditEvents call; a backlog
// larger than that goes at the next call.
const (
	pruneBatch   = 10_000
	pruneBatches = 100
)

// PruneAuditEvents deletes the PrunedAuditEvents older than the policy's
// AuditRetention and returns how many it deleted. The janitor calls it;
// it deletes in batches so that no statement holds the table for long.
func (t *Throttle) PruneAuditEvents(ctx context.Context) (int64, error) {
	before := t.now().Add(-t.policy.AuditRetention)
	var total int64
	for range pruneBatches {
		n, err := t.store.DeleteAuditEvents(ctx, PrunedAuditEvents, before, pruneBatch)
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
	return total, nil
}

// throttleKey is one counter a sign-in attempt touches.
type throttleKey struct {
	key  string // "acct:<email>", "ip:<address or network>", "dev:<device token id>"
	kind string // the metric and audit label: account, ip, device
	free int    // failures before delays start
}

// accountKey is the store key of an account's anonymous counter.
func (t *Throttle) accountKey(email string) string { return "acct:" + email }

// anonymousKeys are the counters of an attempt without a valid device
// token: the account (only for a well-formed email: no account can have
// any other) and the client address.
func (t *Throttle) anonymousKeys(caller Caller, email string, emailErr error) []throttleKey {
	var keys []throttleKey
	if emailErr == nil {
		keys = append(keys, throttleKey{t.accountKey(email), "account", t.policy.AccountFree})
	}
	return append(keys, throttleKey{"ip:" + t.addrKey(caller.IP), "ip", t.policy.IPFree})
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

// signinLease bounds how long a reservation outlives a replica that
// died before settling it: far longer than a password check (the bcrypt
// queue wait plus one comparison), short enough not to matter.
const signinLease = time.Minute

// attempt is a sign-in attempt's reservations on its counters, made
// before the password check and settled after it.
type attempt struct {
	t      *Throttle
	keys   []throttleKey
	email  string // normalised; "" when malformed
	device bool   // reserved on a valid device token's counter
}

// begin reserves the attempt on its counters, in the store, so that every
// replica sees it before any password is checked. With a device token
// valid for the account, on the token's own counter: the account's and
// the address's blocks do not hold it back. Otherwise, or while that
// counter is blocked (a locked token is no token), on the account and the
// address (the anonymous path).
//
// On each counter, while it has free failures left, as many attempts run
// at once as could fail without starting a block; past that, one at a
// time, and none while the counter is blocked.
func (t *Throttle) begin(ctx context.Context, caller Caller, rawEmail, deviceToken string) (*attempt, error) {
	email, emailErr := NormalizeEmail(rawEmail)
	if emailErr == nil && deviceToken != "" {
		if id, ok := t.devices.verify(ctx, deviceToken, email); ok {
			at, _, err := t.reserve(ctx, []throttleKey{{"dev:" + id, "device", t.policy.DeviceFree}})
			if err != nil {
				return nil, err
			}
			if at != nil {
				at.email, at.device = email, true
				return at, nil
			}
		}
	}
	at, refused, err := t.reserve(ctx, t.anonymousKeys(caller, email, emailErr))
	if err != nil {
		return nil, err
	}
	if at == nil {
		return nil, t.refuse(refused)
	}
	if emailErr == nil {
		at.email = email
	}
	return at, nil
}

// refusal is a counter that refused a reservation, and for how long it
// is blocked (not positive when only an attempt in flight stood in the
// way).
type refusal struct {
	key  throttleKey
	wait time.Duration
}

// reserve reserves every key, in order. Refused, it releases what it had
// and returns no attempt but the refusal.
func (t *Throttle) reserve(ctx context.Context, keys []throttleKey) (*attempt, refusal, error) {
	now := t.now()
	at := &attempt{t: t}
	for _, k := range keys {
		ok, until, err := t.store.ReserveSignin(ctx, k.key, now, now.Add(-t.policy.Reset), now.Add(signinLease), k.free)
		if err != nil {
			at.release(ctx)
			return nil, refusal{}, err
		}
		if !ok {
			at.release(ctx)
			return nil, refusal{k, until.Sub(now)}, nil
		}
		at.keys = append(at.keys, k)
	}
	return at, refusal{}, nil
}

// refuse is the answer to a blocked attempt; a counter refused only
// because another attempt is in flight asks for a retry in a second.
// Refusals are counted in a metric, not audited: the block they meet
// was audited when it started, and a client hammering a blocked account
// must not write a row per request.
func (t *Throttle) refuse(r refusal) error {
	t.metrics.SigninRefusals.WithLabelValues(r.key.kind).Inc()
	secs := max(int((r.wait+time.Second-1)/time.Second), 1)
	return tooManyRequests("too many failed sign-ins; try again later", time.Duration(secs)*time.Second)
}

// fail counts a failed password against each counter and blocks those
// that ran out of free failures; each block is audited as it starts
// (signin_blocked, with its end). userID is the account's when it
// exists. Counting is best effort: a store error is logged, and the
// caller still gets its refusal.
func (at *attempt) fail(ctx context.Context, caller Caller, userID string) {
	t := at.t
	ctx = context.WithoutCancel(ctx)
	now := t.now()
	for _, k := range at.keys {
		n, until, err := t.store.FailSignin(ctx, k.key, now, now.Add(-t.policy.Reset), func(n int) time.Duration {
			return t.policy.delay(n, k.free)
		})
		if err != nil {
			t.audit.log.ErrorContext(ctx, "sign-in failure not counted", "error", err)
			continue
		}
		if until.IsZero() {
			continue
		}
		t.metrics.SigninBlocks.WithLabelValues(k.kind).Inc()
		e := AuditEvent{Type: "signin_blocked", Detail: map[string]string{
			"key": k.kind, "failures": strconv.Itoa(n), "until": until.UTC().Format(time.RFC3339),
		}}
		if k.kind != "ip" {
			e.UserID = userID
		}
		t.audit.Record(ctx, caller, e)
	}
}

// succeed forgets the account's (or the device token's) failures after a
// good sign-in and releases the other reservations: an address's count is
// not cleared, or signing in to one's own account would reset it.
func (at *attempt) succeed(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range at.keys {
		var err error
		if k.kind != "ip" {
			err = at.t.store.ClearSigninFailures(ctx, k.key)
		} else {
			err = at.t.store.ReleaseSignin(ctx, k.key)
		}
		if err != nil {
			at.t.audit.log.ErrorContext(ctx, "sign-in reservation not settled", "error", err)
		}
	}
}

// release gives the reservations back without a verdict (no bcrypt slot
// in time, a store error).
func (at *attempt) release(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range at.keys {
		if err := at.t.store.ReleaseSignin(ctx, k.key); err != nil {
			at.t.audit.log.ErrorContext(ctx, "sign-in reservation not released", "error", err)
		}
	}
	at.keys = nil
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
	return t.startLookup(ctx, t.refreshFailures, caller, "too many invalid tokens from this address; try again later")
}

// startLookup is startTokenLookup on lim, a per-address budget of
// rejected tokens; refusal describes its 429.
func (t *Throttle) startLookup(ctx context.Context, lim *limiter, caller Caller, refusal string) (tokenLookup, error) {
	var timeout <-chan time.Time
	for {
		r, wait, settled := lim.reserve(t.addrKey(caller.IP), t.now())
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
		return tokenLookup{}, tooManyRequests(refusal, wait)
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
