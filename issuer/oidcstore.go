package issuer

import (
	"context"
	"time"
)

// AuthCode is an authorization code as stored: its SHA-256 and what it was
// issued for. The code itself is never stored.
type AuthCode struct {
	Hash          []byte
	ClientID      string
	UserID        string
	RedirectURI   string
	CodeChallenge string // the PKCE S256 challenge
	Scope         string // the scope asked for, as checked
	Resource      string // the RFC 8707 resource asked for, or ""
	Nonce         string
	AuthTime      time.Time
	CreatedAt     time.Time
	ExpiresAt     time.Time
	// SessionID is the session its first redemption started ("" until
	// then).
	SessionID string
}

// BrowserSession is a sign-in at the issuer's own pages, which later
// authorization requests reuse (single sign-on). Only the hash of the
// cookie that names it is stored.
type BrowserSession struct {
	Hash      []byte
	UserID    string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
}

// OIDCStore keeps authorization codes and browser sessions. Ending every
// session of a user (RevokeUserSessions with no exception, the account
// transaction's revocation, deleting the user) ends their browser sessions
// too.
type OIDCStore interface {
	// CreateAuthCode stores a code, and deletes the codes that expired
	// before purgeBefore.
	CreateAuthCode(ctx context.Context, c AuthCode, purgeBefore time.Time) error
	// RedeemAuthCode spends a code, in one statement: first is true for
	// its first redemption. A later one is a replay: it is recorded and
	// the code returned as stored (with the session its first redemption
	// started, if already attached). ErrNotFound when there is no such
	// code. Expiry is the caller's to check.
	RedeemAuthCode(ctx context.Context, hash []byte, at time.Time) (c AuthCode, first bool, err error)
	// AttachCodeSession records the session a redemption started; it
	// reports whether the code was replayed meanwhile.
	AttachCodeSession(ctx context.Context, hash []byte, sessionID string) (replayed bool, err error)
	// CreateBrowserSession stores a browser session, and deletes those
	// expired at its creation.
	CreateBrowserSession(ctx context.Context, s BrowserSession) error
	// BrowserSession returns a browser session unexpired at now
	// (ErrNotFound otherwise).
	BrowserSession(ctx context.Context, hash []byte, now time.Time) (BrowserSession, error)
	// DeleteBrowserSession ends a browser session; false when there was
	// none.
	DeleteBrowserSession(ctx context.Context, hash []byte) (bool, error)
}
