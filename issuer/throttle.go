package issuer

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// ThrottlePolicy is the brute-force control on sign-in. Failures are
// counted per account (normalised email, known or not) and per client
// address in the store, so every replica sees them. After Free failures
// each new failure blocks the key for BaseDelay·2^(n-Free-1), capped at
// MaxDelay; a blocked caller gets 429 before any password is checked. It
// never locks an account for good: once the delay has passed the right
// password signs in, and clears the account's count.
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

func (p ThrottlePolicy) withDefaults() ThrottlePolicy {
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

// throttleKeys are the counters a sign-in attempt touches: the account
// (only for a well-formed email: no account can have any other) and the
// client address.
type throttleKeys struct {
	account, ip string
}

func (s *Server) throttleKeysOf(c *gin.Context, rawEmail string) throttleKeys {
	k := throttleKeys{ip: "ip:" + c.ClientIP()}
	if email, err := normalizeEmail(rawEmail); err == nil {
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

// checkThrottle returns a 429 error while any of the keys is blocked.
func (s *Server) checkThrottle(c *gin.Context, k throttleKeys) error {
	until, err := s.store.SigninBlockedUntil(c.Request.Context(), k.list())
	if err != nil {
		return err
	}
	wait := until.Sub(s.now())
	if wait <= 0 {
		return nil
	}
	secs := int((wait + time.Second - 1) / time.Second)
	s.audit(c, AuditEvent{Type: "signin_throttled", Detail: map[string]string{"retry_after": strconv.Itoa(secs)}})
	return &Error{Code: "too_many_requests", Description: "too many failed sign-ins; try again later", RetryAfter: secs}
}

// recordFailure counts a failed sign-in against each key and blocks the
// keys that ran out of free failures. Counting is best effort: a store
// error is logged, and the caller still gets its invalid_grant.
func (s *Server) recordFailure(c *gin.Context, k throttleKeys) {
	ctx := context.WithoutCancel(c.Request.Context())
	now := s.now()
	p := s.cfg.Throttle
	count := func(key, kind string, free int) {
		if key == "" {
			return
		}
		n, err := s.store.RecordSigninFailure(ctx, key, now, now.Add(-p.Reset))
		if err != nil {
			logger(c).ErrorContext(ctx, "sign-in failure not counted", "error", err)
			return
		}
		if d := p.delay(n, free); d > 0 {
			if err := s.store.BlockSignin(ctx, key, now.Add(d)); err != nil {
				logger(c).ErrorContext(ctx, "sign-in block not stored", "error", err)
				return
			}
			s.metrics.SigninBlocks.WithLabelValues(kind).Inc()
		}
	}
	count(k.account, "account", p.AccountFree)
	count(k.ip, "ip", p.IPFree)
}

// clearFailures forgets the account's failures after a good sign-in.
func (s *Server) clearFailures(c *gin.Context, k throttleKeys) {
	if k.account == "" {
		return
	}
	if err := s.store.ClearSigninFailures(context.WithoutCancel(c.Request.Context()), k.account); err != nil {
		logger(c).ErrorContext(c.Request.Context(), "sign-in failures not cleared", "error", err)
	}
}

// errBusy answers a request that found no bcrypt slot in time.
var errBusy = &Error{Code: "temporarily_unavailable", Description: "the server is busy; try again shortly", RetryAfter: 1}

// withBcryptSlot runs fn holding one of the bcrypt slots, waiting at most
// BcryptQueueWait for one. Bounding bcrypt keeps a flood of sign-ins from
// starving every other request of CPU; refresh and JWKS never come here.
func (s *Server) withBcryptSlot(ctx context.Context, fn func()) error {
	select {
	case s.bcrypt <- struct{}{}:
		s.metrics.BcryptQueueWait.Observe(0)
	default:
		start := time.Now()
		t := time.NewTimer(s.cfg.BcryptQueueWait)
		defer t.Stop()
		select {
		case s.bcrypt <- struct{}{}:
			s.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
		case <-t.C:
			s.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
			return errBusy
		case <-ctx.Done():
			s.metrics.BcryptQueueWait.Observe(time.Since(start).Seconds())
			return errBusy
		}
	}
	s.metrics.BcryptInFlight.Inc()
	defer func() {
		s.metrics.BcryptInFlight.Dec()
		<-s.bcrypt
	}()
	fn()
	return nil
}
