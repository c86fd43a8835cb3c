package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Refresh tokens are derived, not stored:
//
//	"sgt_rt_" + base64url(sid(16) || counter(8, big-endian) || mac(32))
//	mac = HMAC-SHA256(session secret, "signet-refresh-v1" || sid || counter)
//
// The session row keeps the secret sealed under the key-encryption key and
// the counter of the one valid token, so no row per token is written and
// nothing at rest can be presented as a token. The prefix lets secret
// scanners find leaked tokens.
const (
	refreshPrefix     = "sgt_rt_"
	refreshMACLabel   = "signet-refresh-v1"
	refreshRawBytes   = 16 + 8 + sha256.Size
	refreshTokenBytes = len(refreshPrefix) + (refreshRawBytes*8+5)/6
	refreshSecretSize = 32
	maxUserAgentBytes = 256
)

// refreshToken is a parsed refresh token; its MAC is not checked yet.
type refreshToken struct {
	sid     [16]byte
	counter uint64
	mac     []byte
}

// parseRefreshToken parses strictly: the prefix, the exact length,
// unpadded base64url with no stray bits.
func parseRefreshToken(s string) (refreshToken, bool) {
	if len(s) != refreshTokenBytes || !strings.HasPrefix(s, refreshPrefix) {
		return refreshToken{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s[len(refreshPrefix):])
	if err != nil || len(raw) != refreshRawBytes {
		return refreshToken{}, false
	}
	var t refreshToken
	copy(t.sid[:], raw[:16])
	t.counter = binary.BigEndian.Uint64(raw[16:24])
	t.mac = raw[24:]
	return t, true
}

func refreshMAC(secret []byte, sid [16]byte, counter uint64) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(refreshMACLabel))
	m.Write(sid[:])
	m.Write(binary.BigEndian.AppendUint64(nil, counter))
	return m.Sum(nil)
}

func mintRefreshToken(secret []byte, sid [16]byte, counter uint64) string {
	raw := make([]byte, 0, refreshRawBytes)
	raw = append(raw, sid[:]...)
	raw = binary.BigEndian.AppendUint64(raw, counter)
	raw = append(raw, refreshMAC(secret, sid, counter)...)
	return refreshPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

// Session ids are 16 random bytes, written as a UUID (version 4 bits set)
// in the sid claim and the sessions table.
func newSessionID() [16]byte {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("issuer: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

func sessionIDString(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// refreshRejected is a refresh token that does not refresh. Every reason
// gets the same answer; the reason goes to the log only.
type refreshRejected struct{ reason string }

func (r *refreshRejected) Error() string { return "refresh token rejected: " + r.reason }

// reasonReused is the rejection of a replayed refresh token.
const reasonReused = "reused: session revoked"

const invalidRefreshDescription = "the refresh token is invalid or expired"

// startSession creates a session for u and returns it with its first
// refresh token.
func (s *Server) startSession(c *gin.Context, u User) (Session, string, error) {
	idb := newSessionID()
	id := sessionIDString(idb)
	secret := make([]byte, refreshSecretSize)
	if _, err := rand.Read(secret); err != nil {
		return Session{}, "", fmt.Errorf("issuer: crypto/rand: %w", err)
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	abs := now.Add(s.cfg.SessionMaxAge)
	sess := Session{
		ID: id, UserID: u.ID, RefreshSecret: s.sealer.Seal(id, secret),
		RotatedAt: now, CreatedAt: now,
		IdleExpiresAt: minTime(now.Add(s.cfg.RefreshTokenTTL), abs), AbsoluteExpiresAt: abs,
		UserAgent: cleanUserAgent(c.Request.UserAgent()), IP: c.ClientIP(),
	}
	if err := s.store.CreateSession(c.Request.Context(), sess); err != nil {
		return Session{}, "", err
	}
	return sess, mintRefreshToken(secret, idb, 0), nil
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

// refresh is spendRefreshToken behind a per-address limit on rejected
// tokens: a guessing client costs the database at most a few reads a
// second, while clients presenting good tokens are never slowed.
func (s *Server) refresh(c *gin.Context, raw string) (Session, User, string, error) {
	ip, now := c.ClientIP(), s.now()
	if wait := s.refreshFailures.wait(ip, now); wait > 0 {
		return Session{}, User{}, "", tooManyRequests("too many invalid refresh tokens from this address; try again later", wait)
	}
	sess, u, rt, err := s.spendRefreshToken(c, raw)
	var rj *refreshRejected
	if errors.As(err, &rj) {
		s.refreshFailures.take(ip, now)
	}
	return sess, u, rt, err
}

// spendRefreshToken spends a refresh token and returns the session (as updated), its
// user and the successor token. The happy path is two statements: one
// SELECT of the session with its user, one compare-and-swap UPDATE.
//
// With n the presented counter and c the stored one:
//   - n == c: rotate to n+1 by compare-and-swap; when another request
//     rotated first, read again and decide again (now the grace case);
//   - n == c-1 within the reuse grace of the last rotation: the same
//     successor again (it is a function of the secret and c), no write;
//   - any older n: the token was used twice, so it is presumed stolen and
//     the whole session is revoked;
//   - anything else (bad MAC, unknown, revoked, expired, n > c): rejected.
func (s *Server) spendRefreshToken(c *gin.Context, raw string) (_ Session, _ User, _ string, err error) {
	defer func() { s.metrics.refreshFailed(err) }()
	ctx := c.Request.Context()
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return Session{}, User{}, "", &refreshRejected{"malformed"}
	}
	id := sessionIDString(tok.sid)
	for range 2 {
		sess, u, err := s.store.SessionWithUser(ctx, id)
		if errors.Is(err, ErrNotFound) {
			return Session{}, User{}, "", &refreshRejected{"unknown session"}
		}
		if err != nil {
			return Session{}, User{}, "", err
		}
		secret, err := s.sealer.Open(id, sess.RefreshSecret)
		if err != nil {
			return Session{}, User{}, "", fmt.Errorf("issuer: refresh secret of session %s: %w", id, err)
		}
		if !hmac.Equal(tok.mac, refreshMAC(secret, tok.sid, tok.counter)) {
			return Session{}, User{}, "", &refreshRejected{"bad MAC"}
		}
		// Revoked first: a revoked session never reopens a grace window.
		now := s.now()
		if reason := sessionUnusable(sess, now); reason != "" {
			return Session{}, User{}, "", &refreshRejected{reason}
		}
		if !now.Before(sess.IdleExpiresAt) {
			return Session{}, User{}, "", &refreshRejected{"session idle too long"}
		}
		n, cur := tok.counter, sess.RefreshCounter
		switch {
		case n == cur:
			idle := minTime(now.Add(s.cfg.RefreshTokenTTL), sess.AbsoluteExpiresAt)
			won, err := s.store.RotateRefresh(ctx, id, n, now, idle)
			if err != nil {
				return Session{}, User{}, "", err
			}
			if !won {
				continue // a racing request rotated (or revoked) first
			}
			sess.RefreshCounter, sess.RotatedAt, sess.IdleExpiresAt = n+1, now, idle
			s.metrics.Refreshes.WithLabelValues("rotated").Inc()
			return sess, u, mintRefreshToken(secret, tok.sid, n+1), nil
		case n < cur && n == cur-1 && now.Sub(sess.RotatedAt) <= s.cfg.RefreshReuseGrace:
			s.metrics.Refreshes.WithLabelValues("grace_replay").Inc()
			return sess, u, mintRefreshToken(secret, tok.sid, cur), nil
		case n < cur:
			if _, err := s.store.RevokeSession(context.WithoutCancel(ctx), id, now, "refresh_token_reused"); err != nil {
				return Session{}, User{}, "", err
			}
			s.audit(c, AuditEvent{Type: "refresh_token_reused", UserID: u.ID, SessionID: id, Detail: map[string]string{
				"presented_counter": strconv.FormatUint(n, 10), "current_counter": strconv.FormatUint(cur, 10),
			}})
			s.metrics.Refreshes.WithLabelValues("reuse_detected").Inc()
			return Session{}, User{}, "", &refreshRejected{reasonReused}
		default:
			return Session{}, User{}, "", &refreshRejected{"counter ahead of the session"}
		}
	}
	return Session{}, User{}, "", &refreshRejected{"lost the rotation race twice"}
}

// refreshError turns a refresh failure into the API error: every
// rejection gets the same invalid_grant, and its reason is logged.
func refreshError(c *gin.Context, err error, status int) error {
	var rj *refreshRejected
	if !errors.As(err, &rj) {
		return err
	}
	logger(c).InfoContext(c.Request.Context(), "refresh token rejected", "reason", rj.reason)
	return &Error{Code: "invalid_grant", Description: invalidRefreshDescription, Status: status}
}

// revokeByRefreshToken revokes the session of a genuine refresh token (a
// valid MAC for a counter the session has reached). It reports whether a
// live session was revoked.
func (s *Server) revokeByRefreshToken(ctx context.Context, raw, reason string) (Session, bool, error) {
	tok, ok := parseRefreshToken(raw)
	if !ok {
		return Session{}, false, nil
	}
	id := sessionIDString(tok.sid)
	sess, _, err := s.store.SessionWithUser(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, err
	}
	secret, err := s.sealer.Open(id, sess.RefreshSecret)
	if err != nil {
		return Session{}, false, fmt.Errorf("issuer: refresh secret of session %s: %w", id, err)
	}
	if !hmac.Equal(tok.mac, refreshMAC(secret, tok.sid, tok.counter)) || tok.counter > sess.RefreshCounter {
		return Session{}, false, nil
	}
	revoked, err := s.store.RevokeSession(ctx, id, s.now(), reason)
	return sess, revoked, err
}

// refreshExpiresIn is the seconds, rounded, until the session's idle
// expiry (which never passes its absolute expiry). Rounding absorbs the
// millisecond truncation of stored times.
func (s *Server) refreshExpiresIn(sess Session) int {
	d := sess.IdleExpiresAt.Sub(s.now()).Round(time.Second)
	return int(max(min(d/time.Second, math.MaxInt32), 0))
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// handleRefresh rotates a refresh token: 200 with the sign-in body.
func (s *Server) handleRefresh() gin.HandlerFunc {
	return func(c *gin.Context) {
		var req refreshRequest
		if err := decodeJSON(c, &req); err != nil {
			fail(c, err)
			return
		}
		raw, cookieMode := req.RefreshToken, false
		if raw == "" {
			raw, cookieMode = refreshCookie(c), true
		}
		if raw == "" {
			fail(c, apiError("invalid_request", "refresh_token is required"))
			return
		}
		if cookieMode {
			if err := s.checkCookieRequest(c); err != nil {
				fail(c, err)
				return
			}
		}
		sess, u, rt, err := s.refresh(c, raw)
		if err != nil {
			var rj *refreshRejected
			if cookieMode && errors.As(err, &rj) {
				clearRefreshCookie(c) // the session is over; a 429 or an outage is not
			}
			fail(c, refreshError(c, err, 0))
			return
		}
		resp, err := s.issueTokens(u, sess, rt)
		if err != nil {
			fail(c, err)
			return
		}
		if cookieMode {
			setRefreshCookie(c, &resp)
		}
		c.JSON(200, resp)
	}
}

// signoutScope reads ?scope=local|global|others (local when absent).
func signoutScope(c *gin.Context) (string, error) {
	scopes := c.Request.URL.Query()["scope"]
	switch {
	case len(scopes) > 1:
		return "", apiError("invalid_request", "scope is repeated")
	case len(scopes) == 0 || scopes[0] == "":
		return "local", nil
	case scopes[0] == "local" || scopes[0] == "global" || scopes[0] == "others":
		return scopes[0], nil
	}
	return "", apiError("invalid_request", "scope must be local, global or others")
}

// handleSignout revokes the caller's session (204); scope=global revokes
// every session of the user, scope=others all but the caller's.
func (s *Server) handleSignout() gin.HandlerFunc {
	return func(c *gin.Context) {
		scope, err := signoutScope(c)
		if err != nil {
			fail(c, err)
			return
		}
		sess := c.MustGet(sessionKey).(Session)
		ctx := context.WithoutCancel(c.Request.Context())
		now := s.now()
		var n int64
		switch scope {
		case "local":
			var ok bool
			if ok, err = s.store.RevokeSession(ctx, sess.ID, now, "signout"); ok {
				n = 1
			}
		case "global":
			n, err = s.store.RevokeUserSessions(ctx, sess.UserID, "", now, "signout_global")
		case "others":
			n, err = s.store.RevokeUserSessions(ctx, sess.UserID, sess.ID, now, "signout_others")
		}
		if err != nil {
			fail(c, err)
			return
		}
		s.audit(c, AuditEvent{Type: "session_revoked", UserID: sess.UserID, SessionID: sess.ID, Detail: map[string]string{
			"via": "signout", "scope": scope, "sessions": strconv.FormatInt(n, 10),
		}})
		if refreshCookie(c) != "" {
			clearRefreshCookie(c)
		}
		c.Status(204)
		c.Writer.WriteHeaderNow()
	}
}

// handleMe returns the signed-in user.
func (s *Server) handleMe() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(200, userBody{User: c.MustGet(userKey).(User)})
	}
}
