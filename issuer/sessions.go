package issuer

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signet-auth/signet/verifier"
)

const maxUserAgentBytes = 256

// retryWindow bounds how long after a rotation the spent token may still
// be retried (see spend): a retry comes from a client that never saw its
// reply, and it may have been offline since (a phone that lost signal, a
// laptop closed mid-request), so minutes are too short; a day covers a
// night or a flight. Past that, a spent token is more likely a leaked copy
// than a retry, and the client signs in again. The session's idle lifetime
// ends the window sooner when it is shorter.
const retryWindow = 24 * time.Hour

// Sessions starts sessions, rotates their refresh tokens and ends them.
type Sessions struct {
	store    Store
	sealer   sealer
	tokens   *Tokens
	audit    *Auditor
	throttle *Throttle
	metrics  *Metrics
	log      interface {
		InfoContext(ctx context.Context, msg string, args ...any)
	}
	now        func() time.Time
	idleTTL    time.Duration
	maxAge     time.Duration
	reuseGrace time.Duration

	// keys are the server-wide refresh MAC keys.
	keys *RefreshKeys
}

// sealer encrypts the refresh MAC keys and the refresh secrets of
// sessions started before them (keys.Sealer).
type sealer interface {
	Seal(label string, plaintext []byte) []byte
	Open(label string, sealed []byte) ([]byte, error)
}

func newSessions(cfg Config, store Store, sl sealer, rk *RefreshKeys, tokens *Tokens, audit *Auditor, throttle *Throttle) *Sessions {
	return &Sessions{
		store: store, sealer: sl, keys: rk, tokens: tokens, audit: audit, throttle: throttle, metrics: cfg.Metrics,
		log: cfg.Logger, now: cfg.Now,
		idleTTL: cfg.RefreshTokenTTL, maxAge: cfg.SessionMaxAge, reuseGrace: cfg.RefreshReuseGrace,
	}
}

// Start creates a session for u and returns its first tokens, for the
// default resource.
func (s *Sessions) Start(ctx context.Context, caller Caller, u User) (TokenSet, error) {
	return s.StartFor(ctx, caller, u, s.tokens.defaultGrant(nil))
}

// StartFor creates a session for u and returns its first tokens, the
// access token for grant g.
func (s *Sessions) StartFor(ctx context.Context, caller Caller, u User, g Grant) (TokenSet, error) {
	idb := newSessionID()
	id := sessionIDString(idb)
	now := s.now().UTC().Truncate(time.Millisecond)
	abs := now.Add(s.maxAge)
	// No secret of its own: its tokens are MACed under the server-wide key.
	sess := Session{
		ID: id, UserID: u.ID,
		RotatedAt: now, CreatedAt: now,
		IdleExpiresAt: minTime(now.Add(s.idleTTL), abs), AbsoluteExpiresAt: abs,
		UserAgent: cleanUserAgent(caller.UserAgent), IP: caller.IP,
	}
	kid, key, err := s.keys.current(ctx)
	if err != nil {
		return TokenSet{}, err
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		if errors.Is(err, ErrUserDisabled) {
			return TokenSet{}, errAccountDisabled()
		}
		return TokenSet{}, err
	}
	ts, err := s.tokens.issue(u, sess, mintRefreshToken2(key, kid, idb, 0), g)
	if err != nil {
		return TokenSet{}, err
	}
	s.audit.Record(ctx, caller, AuditEvent{Type: "signin", UserID: u.ID, SessionID: sess.ID})
	return ts, nil
}

// cleanUserAgent keeps a user agent printable, valid UTF-8 and short.
func cleanUserAgent(ua string) string {
	ua = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(ua, ""))
	if len(ua) <= maxUserAgentBytes {
		return ua
	}
	cut := maxUserAgentBytes
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// RefreshKeys returns the refresh MAC keys, for the pass every replica
// runs (RunRefreshKeys) and for tools.
func (s *Sessions) RefreshKeys() *RefreshKeys { return s.keys }

// RunRefreshKeys runs the refresh MAC key pass until ctx ends: a first
// pass now, then every refreshKeyPassInterval. Each key this replica makes
// or deletes is audited; a failed pass is logged and tried again.
func (s *Sessions) RunRefreshKeys(ctx context.Context, warn func(msg string, args ...any)) {
	report := func(p RefreshKeyPass, err error) {
		if err != nil {
			warn("refresh MAC key pass failed; the keys in memory stay in use", "error", err.Error())
			return
		}
		s.auditRefreshKeyPass(ctx, Caller{}, p, "schedule")
	}
	report(s.keys.Pass(ctx))
	s.keys.Run(ctx, report)
}

// auditRefreshKeyPass records the keys a pass made and deleted.
func (s *Sessions) auditRefreshKeyPass(ctx context.Context, caller Caller, p RefreshKeyPass, via string) {
	if p.Created != 0 {
		s.audit.Record(ctx, caller, AuditEvent{Type: "refresh_key_created", Detail: map[string]string{
			"key_id": strconv.FormatUint(uint64(p.Created), 10), "via": via,
		}})
	}
	for _, id := range p.Deleted {
		s.audit.Record(ctx, caller, AuditEvent{Type: "refresh_key_deleted", Detail: map[string]string{
			"key_id": strconv.FormatUint(uint64(id), 10), "via": via,
		}})
	}
}

// Refresh spends a refresh token and returns the successor with a new
// access token, behind a per-address limit on rejected tokens: a
// guessing client costs the database at most a few reads a second, while
// clients presenting good tokens are never slowed. Every rejection is the
// same KindBadCredentials error; its Reason goes to the log only.
func (s *Sessions) Refresh(ctx context.Context, caller Caller, raw string) (TokenSet, error) {
	return s.RefreshFor(ctx, caller, raw, func(context.Context, User, []string) (Grant, error) { return s.tokens.defaultGrant(nil), nil })
}

// RefreshFor is Refresh with the new access token for the grant that
// grant returns for the session's user. grant gets the user's roles when
// the refresh read them with the session (the common path does, in its one
// statement; empty, not nil, when the user has none) and nil otherwise.
func (s *Sessions) RefreshFor(ctx context.Context, caller Caller, raw string, grant func(context.Context, User, []string) (Grant, error)) (TokenSet, error) {
	lookup, err := s.throttle.startTokenLookup(ctx, caller)
	if err != nil {
		return TokenSet{}, err
	}
	sess, u, roles, rt, err := s.spend(ctx, caller, raw)
	lookup.settle(isRejection(err))
	s.metrics.refreshFailed(err)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Reason != "" {
			s.log.InfoContext(ctx, "refresh token rejected", "reason", string(e.Reason))
		}
		return TokenSet{}, err
	}
	g, err := grant(ctx, u, roles)
	if err != nil {
		return TokenSet{}, err
	}
	return s.tokens.issue(u, sess, rt, g)
}

// spend spends a refresh token and returns the session (as updated), its
// user and the successor token. The common path is one statement: the
// token's MAC is checked under the server-wide key without the database,
// then one compare-and-swap UPDATE (SpendRefresh) rotates the counter and
// returns what the access token needs. Only when it changes no row (or
// for a token of the first format, whose MAC needs the session's secret)
// is the session read and the case decided as follows.
//
// With n the presented counter and c the stored one:
//   - n == c: rotate to n+1 by compare-and-swap; when another request
//     rotated first, read again and decide again (now a repeat);
//   - n == c-1 within the reuse grace of the last rotation: the same
//     successor again (it is a function of the secret and c), no write:
//     racing tabs, quick retries;
//   - n == c-1 later, within retryWindow: the successor has never been
//     presented (presenting it would have moved c on), so this may be a
//     client whose reply was lost (a network fault on either side of the
//     issuer) retrying. It gets the same successor, and the session records
//     that token c was handed out again (ReissuedCounter = c) — unless
//     token n was itself handed out again that way: then it may have two
//     holders, one has spent it, and this is the other;
//   - any older n, or a refused repeat: the token was used twice, so it is
//     presumed stolen and the whole session is revoked;
//   - anything else (bad MAC, unknown, revoked, expired, n > c): rejected.
//
// Why two holders of one token are still caught: once a token's successor
// has been presented, the token is two rotations old and any presentation
// of it is reuse. A holder can only avoid that by presenting it late,
// before the successor is used, which is a retry and marks the successor
// as handed out twice. Whichever holder then presents that successor
// first rotates it; the other one's presentation is a late repeat of a
// re-issued token, which is refused and revokes the session. So a thief
// who replays a spent token gets at most one turn, ended by the next
// rotation (inside the short grace two holders look like racing tabs, as
// before). The price: a client whose replies are lost on two consecutive
// refreshes, and which retries each after the grace, is signed out.
func (s *Sessions) spend(ctx context.Context, caller Caller, raw string) (Session, User, []string, string, error) {
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return Session{}, User{}, nil, "", rejected(ReasonMalformed)
	}
	id := sessionIDString(tok.sid)
	if tok.v2 {
		// A key that is unknown or was deleted: the same refusal as a bad MAC.
		key, ok, err := s.keys.key(ctx, tok.kid)
		if err != nil {
			return Session{}, User{}, nil, "", err
		}
		if !ok || !hmac.Equal(tok.mac, refreshMAC2(key, tok.kid, tok.sid, tok.counter)) {
			return Session{}, User{}, nil, "", rejected(ReasonBadMAC)
		}
	}
	// Successors are MACed with the newest key.
	kid, key, err := s.keys.current(ctx)
	if err != nil {
		return Session{}, User{}, nil, "", err
	}
	if tok.v2 {
		now := s.now()
		sess, u, roles, won, err := s.store.SpendRefresh(ctx, id, tok.counter, now, now.Add(s.idleTTL))
		if err != nil {
			return Session{}, User{}, nil, "", err
		}
		if won {
			s.metrics.rotated.Inc()
			return sess, u, roles, mintRefreshToken2(key, kid, tok.sid, tok.counter+1), nil
		}
	}
	for range 2 {
		sess, u, err := s.store.SessionWithUser(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return Session{}, User{}, nil, "", rejected(ReasonUnknownSession)
		}
		if err != nil {
			return Session{}, User{}, nil, "", err
		}
		if !tok.v2 {
			if len(sess.RefreshSecret) == 0 {
				// A session of the server-wide keys has no secret under
				// which a first-format token could be genuine.
				return Session{}, User{}, nil, "", rejected(ReasonBadMAC)
			}
			secret, err := s.sealer.Open(id, sess.RefreshSecret)
			if err != nil {
				return Session{}, User{}, nil, "", fmt.Errorf("issuer: refresh secret of session %s: %w", id, err)
			}
			if !hmac.Equal(tok.mac, refreshMAC(secret, tok.sid, tok.counter)) {
				return Session{}, User{}, nil, "", rejected(ReasonBadMAC)
			}
		}
		// Revoked first: a revoked session never reopens a grace window.
		now := s.now()
		if reason := sessionUnusable(sess, u, now); reason != "" {
			return Session{}, User{}, nil, "", rejected(reason)
		}
		if !now.Before(sess.IdleExpiresAt) {
			return Session{}, User{}, nil, "", rejected(ReasonIdle)
		}
		n, cur := tok.counter, sess.RefreshCounter
		switch {
		case n == cur:
			idle := minTime(now.Add(s.idleTTL), sess.AbsoluteExpiresAt)
			won, err := s.store.RotateRefresh(ctx, id, n, now, idle)
			if err != nil {
				return Session{}, User{}, nil, "", err
			}
			if !won {
				continue // a racing request rotated (or revoked) first
			}
			sess.RefreshCounter, sess.RotatedAt, sess.IdleExpiresAt = n+1, now, idle
			s.metrics.rotated.Inc()
			return sess, u, nil, mintRefreshToken2(key, kid, tok.sid, n+1), nil
		case n < cur && n == cur-1 && now.Sub(sess.RotatedAt) <= s.reuseGrace:
			s.metrics.Refreshes.WithLabelValues("grace_replay").Inc()
			return sess, u, nil, mintRefreshToken2(key, kid, tok.sid, cur), nil
		case n < cur && n == cur-1 && s.reuseGrace > 0 && now.Sub(sess.RotatedAt) <= retryWindow && !sess.reissued(n):
			won, err := s.store.ReissueRefresh(ctx, id, cur)
			if err != nil {
				return Session{}, User{}, nil, "", err
			}
			if !won {
				continue // the successor was presented (or the session revoked) meanwhile
			}
			sess.ReissuedCounter = cur
			s.metrics.Refreshes.WithLabelValues("retry_replay").Inc()
			s.audit.Record(ctx, caller, AuditEvent{Type: "refresh_token_retried", UserID: u.ID, SessionID: id, Detail: map[string]string{
				"presented_counter": strconv.FormatUint(n, 10), "current_counter": strconv.FormatUint(cur, 10),
			}})
			return sess, u, nil, mintRefreshToken2(key, kid, tok.sid, cur), nil
		case n < cur:
			if _, err := s.store.RevokeSession(context.WithoutCancel(ctx), id, now, "refresh_token_reused"); err != nil {
				return Session{}, User{}, nil, "", err
			}
			s.audit.Record(ctx, caller, AuditEvent{Type: "refresh_token_reused", UserID: u.ID, SessionID: id, Detail: map[string]string{
				"presented_counter": strconv.FormatUint(n, 10), "current_counter": strconv.FormatUint(cur, 10),
			}})
			s.metrics.Refreshes.WithLabelValues("reuse_detected").Inc()
			return Session{}, User{}, nil, "", rejected(ReasonReused)
		default:
			return Session{}, User{}, nil, "", rejected(ReasonAhead)
		}
	}
	return Session{}, User{}, nil, "", rejected(ReasonLostRace)
}

// reissued reports whether token n was handed out again to a retry of
// its predecessor (token 0 never is).
func (sess Session) reissued(n uint64) bool { return n != 0 && sess.ReissuedCounter == n }

// sessionUnusable says why a session of user u can no longer be used,
// or "". Disabling a user revokes their sessions too; the check on the
// user covers a session that a disabling did not reach.
func sessionUnusable(sess Session, u User, now time.Time) Reason {
	switch {
	case sess.Revoked():
		return ReasonRevoked
	case u.Disabled():
		return ReasonUserDisabled
	case !now.Before(sess.AbsoluteExpiresAt):
		return ReasonPastMaxAge
	}
	return ""
}

// Authenticate checks an access token and, with one indexed lookup, that
// its session is still live, so that sign-out takes effect at once on the
// issuer's own endpoints. A refusal is KindInvalidToken.
func (s *Sessions) Authenticate(ctx context.Context, raw string) (Session, User, error) {
	_, sess, u, err := s.authenticate(ctx, raw, "")
	return sess, u, err
}

// authenticate is Authenticate returning the token's claims too; aud,
// when set, is the registered resource the token must be for instead of
// the default one.
func (s *Sessions) authenticate(ctx context.Context, raw, aud string) (*verifier.Claims, Session, User, error) {
	var claims *verifier.Claims
	var err error
	if aud == "" {
		claims, err = s.tokens.Verify(ctx, raw)
	} else {
		claims, err = s.tokens.VerifyFor(ctx, raw, aud)
	}
	if err != nil {
		s.log.InfoContext(ctx, "access token rejected", "reason", errors.Unwrap(err).Error())
		return nil, Session{}, User{}, err
	}
	sess, u, err := s.store.SessionWithUser(ctx, claims.SessionID)
	switch {
	case errors.Is(err, ErrNotFound):
		s.log.InfoContext(ctx, "access token rejected", "reason", string(ReasonUnknownSession), "session_id", claims.SessionID)
		return nil, Session{}, User{}, invalidToken(nil)
	case err != nil:
		return nil, Session{}, User{}, err
	}
	if reason := sessionUnusable(sess, u, s.now()); reason != "" || sess.UserID != claims.Subject {
		if reason == "" {
			reason = ReasonOtherUser
		}
		s.log.InfoContext(ctx, "access token rejected", "reason", string(reason), "session_id", sess.ID)
		return nil, Session{}, User{}, invalidToken(nil)
	}
	return claims, sess, u, nil
}

// SignOutScope is which sessions a sign-out ends.
type SignOutScope string

// The sign-out scopes.
const (
	SignOutLocal  SignOutScope = "local"  // the caller's session
	SignOutGlobal SignOutScope = "global" // every session of the user
	SignOutOthers SignOutScope = "others" // every session but the caller's
)

// ParseSignOutScope reads a scope; empty means local.
func ParseSignOutScope(v string) (SignOutScope, error) {
	switch SignOutScope(v) {
	case "":
		return SignOutLocal, nil
	case SignOutLocal, SignOutGlobal, SignOutOthers:
		return SignOutScope(v), nil
	}
	return "", Errorf(KindInvalid, "scope must be local, global or others")
}

// SignOut ends sess, or with a wider scope the user's other sessions too,
// and returns how many it ended.
func (s *Sessions) SignOut(ctx context.Context, caller Caller, sess Session, scope SignOutScope) (int64, error) {
	ctx = context.WithoutCancel(ctx)
	now := s.now()
	var n int64
	var err error
	switch scope {
	case SignOutLocal:
		var ok bool
		if ok, err = s.store.RevokeSession(ctx, sess.ID, now, "signout"); ok {
			n = 1
		}
	case SignOutGlobal:
		n, err = s.store.RevokeUserSessions(ctx, sess.UserID, "", now, "signout_global")
	case SignOutOthers:
		n, err = s.store.RevokeUserSessions(ctx, sess.UserID, sess.ID, now, "signout_others")
	default:
		return 0, Errorf(KindInvalid, "scope must be local, global or others")
	}
	if err != nil {
		return 0, err
	}
	s.audit.Record(ctx, caller, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID, Detail: map[string]string{
		"via": "signout", "scope": string(scope), "sessions": strconv.FormatInt(n, 10),
	}})
	return n, nil
}

// SignOutWithRefreshToken is SignOut for a caller that also holds a
// refresh token (a browser sending its refresh cookie with its access
// token). The token may name another session than sess: when it is a
// genuine token of a session of the same user, that session ends too.
// It reports whether the token's session is over, so that the caller
// drops the token only then; a token of another user's session, or one
// that is not genuine, is left alone (empty: no token).
func (s *Sessions) SignOutWithRefreshToken(ctx context.Context, caller Caller, sess Session, scope SignOutScope, raw string) (n int64, tokenOver bool, err error) {
	ctx = context.WithoutCancel(ctx)
	var other Session
	if raw != "" {
		tokSess, genuine, err := s.genuineRefreshSession(ctx, raw)
		if err != nil {
			return 0, false, err
		}
		switch {
		case !genuine || tokSess.UserID != sess.UserID:
		case tokSess.ID == sess.ID:
			tokenOver = scope != SignOutOthers
		default:
			tokenOver = true
			if scope == SignOutLocal { // the wider scopes end it anyway
				other = tokSess
			}
		}
	}
	if other.ID != "" {
		revoked, err := s.store.RevokeSession(ctx, other.ID, s.now(), "signout")
		if err != nil {
			return 0, false, err
		}
		if revoked {
			n++
			s.audit.Record(ctx, caller, AuditEvent{Type: "session_revoked", UserID: other.UserID, SessionID: other.ID,
				Detail: map[string]string{"via": "signout_cookie", "scope": "local", "sessions": "1"}})
		}
	}
	m, err := s.SignOut(ctx, caller, sess, scope)
	if err != nil {
		return 0, false, err
	}
	return n + m, tokenOver, nil
}

// SignOutByRefreshToken ends the session of a genuine refresh token (a
// browser signing out with its refresh cookie, its access token perhaps
// expired). A token that names no live session ends nothing and is no
// error.
func (s *Sessions) SignOutByRefreshToken(ctx context.Context, caller Caller, raw string) error {
	ctx = context.WithoutCancel(ctx)
	lookup, err := s.throttle.startTokenLookup(ctx, caller)
	if err != nil {
		return err
	}
	sess, revoked, err := s.revokeByRefreshToken(ctx, raw, "signout")
	lookup.settle(err == nil && sess.ID == "")
	if err != nil {
		return err
	}
	if revoked {
		s.audit.Record(ctx, caller, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID,
			Detail: map[string]string{"via": "signout_cookie", "scope": "local", "sessions": "1"}})
	}
	return nil
}

// RevokeToken is RFC 7009 revocation: a refresh token revokes its
// session, and so does an access token (its sid). Anything else, an
// unknown or invalid token included, is no error, so that the caller
// learns nothing about tokens it does not hold.
func (s *Sessions) RevokeToken(ctx context.Context, caller Caller, raw string) error {
	ctx = context.WithoutCancel(ctx)
	lookup, err := s.throttle.startTokenLookup(ctx, caller)
	if err != nil {
		return err
	}
	sess, revoked, err := s.revokeByRefreshToken(ctx, raw, "oauth_revoke")
	if err == nil && sess.ID == "" {
		sess, revoked, err = s.revokeByAccessToken(ctx, raw, "oauth_revoke")
	}
	lookup.settle(err == nil && sess.ID == "")
	if err != nil {
		return err
	}
	if revoked {
		s.audit.Record(ctx, caller, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID, Detail: map[string]string{"via": "oauth_revoke"}})
	}
	return nil
}

// revokeByRefreshToken revokes the session of a genuine refresh token. It
// reports whether a live session was revoked.
func (s *Sessions) revokeByRefreshToken(ctx context.Context, raw, reason string) (Session, bool, error) {
	sess, genuine, err := s.genuineRefreshSession(ctx, raw)
	if err != nil || !genuine {
		return Session{}, false, err
	}
	revoked, err := s.store.RevokeSession(ctx, sess.ID, s.now(), reason)
	return sess, revoked, err
}

// genuineRefreshSession returns the session of a refresh token, and
// whether the token is genuine: a valid MAC for a counter the session
// has reached (a spent token is genuine too; live or not).
func (s *Sessions) genuineRefreshSession(ctx context.Context, raw string) (Session, bool, error) {
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return Session{}, false, nil
	}
	id := sessionIDString(tok.sid)
	if tok.v2 {
		key, ok, err := s.keys.key(ctx, tok.kid)
		if err != nil {
			return Session{}, false, err
		}
		if !ok || !hmac.Equal(tok.mac, refreshMAC2(key, tok.kid, tok.sid, tok.counter)) {
			return Session{}, false, nil
		}
	}
	sess, _, err := s.store.SessionWithUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	if !tok.v2 {
		if len(sess.RefreshSecret) == 0 {
			return Session{}, false, nil
		}
		secret, err := s.sealer.Open(id, sess.RefreshSecret)
		if err != nil {
			return Session{}, false, fmt.Errorf("issuer: refresh secret of session %s: %w", id, err)
		}
		if !hmac.Equal(tok.mac, refreshMAC(secret, tok.sid, tok.counter)) {
			return Session{}, false, nil
		}
	}
	if tok.counter > sess.RefreshCounter {
		return Session{}, false, nil
	}
	return sess, true, nil
}

// revokeByAccessToken revokes the session named by a valid access token.
func (s *Sessions) revokeByAccessToken(ctx context.Context, raw, reason string) (Session, bool, error) {
	claims, err := s.tokens.Verify(ctx, raw)
	if err != nil {
		return Session{}, false, nil
	}
	sess, _, err := s.store.SessionWithUser(ctx, claims.SessionID)
	if errors.Is(err, ErrNotFound) || (err == nil && sess.UserID != claims.Subject) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	revoked, err := s.store.RevokeSession(ctx, sess.ID, s.now(), reason)
	return sess, revoked, err
}
