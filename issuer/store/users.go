package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/signet-auth/signet/issuer"
)

type userRow struct {
	ID           string `db:"id"`
	Email        string `db:"email"`
	PasswordHash string `db:"password_hash"`
	CreatedAt    int64  `db:"created_at"`
	// VerifiedAt is NULL until the address is confirmed.
	VerifiedAt sql.NullInt64 `db:"email_verified_at"`
	// DisabledAt is NULL while the account is enabled.
	DisabledAt sql.NullInt64 `db:"disabled_at"`
}

func (r userRow) user() issuer.User {
	return issuer.User{ID: r.ID, Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: fromMS(r.CreatedAt),
		EmailVerified: r.VerifiedAt.Valid, DisabledAt: fromMS(r.DisabledAt.Int64)}
}

// userColumns are the columns userRow reads.
const userColumns = `id, email, password_hash, created_at, email_verified_at, disabled_at`

// verifiedAt is the stored confirmation time of a new user: its creation
// when it is created confirmed.
func verifiedAt(u issuer.User) sql.NullInt64 {
	if !u.EmailVerified {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(u.CreatedAt), Valid: true}
}

// CreateUser inserts u; an email already registered, or one whose
// confusable skeleton (issuer.EmailSkeleton) is an existing account's,
// gives issuer.ErrEmailTaken. The unique indexes decide, so two racing
// sign-ups cannot both win.
func (d *DB) CreateUser(ctx context.Context, u issuer.User) error {
	return createUser(ctx, d.db, u)
}

func createUser(ctx context.Context, q sqlx.ExtContext, u issuer.User) error {
	_, err := q.ExecContext(ctx, q.Rebind(
		`INSERT INTO users (id, email, email_skeleton, password_hash, created_at, updated_at, email_verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, issuer.EmailSkeleton(u.Email), u.PasswordHash, ms(u.CreatedAt), ms(u.CreatedAt), verifiedAt(u))
	if isUniqueViolation(err) {
		return issuer.ErrEmailTaken
	}
	if err != nil {
		return storeErr("create user", err)
	}
	return nil
}

// UserByEmail finds a user by (already normalised) email.
func (d *DB) UserByEmail(ctx context.Context, email string) (issuer.User, error) {
	return getUser(ctx, d.db, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower(?)`, email)
}

// UserByID finds a user by id.
func (d *DB) UserByID(ctx context.Context, id string) (issuer.User, error) {
	return getUser(ctx, d.db, `SELECT `+userColumns+` FROM users WHERE id = ?`, id)
}

func getUser(ctx context.Context, q sqlx.ExtContext, query string, arg any) (issuer.User, error) {
	var r userRow
	err := sqlx.GetContext(ctx, q, &r, q.Rebind(query), arg)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.User{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.User{}, storeErr("get user", err)
	}
	return r.user(), nil
}

// ListUsers returns users ordered by creation, for the CLI.
func (d *DB) ListUsers(ctx context.Context, limit int) ([]issuer.User, error) {
	var rows []userRow
	if err := d.db.SelectContext(ctx, &rows, d.db.Rebind(
		`SELECT `+userColumns+` FROM users ORDER BY created_at, id LIMIT ?`), limit); err != nil {
		return nil, storeErr("list users", err)
	}
	out := make([]issuer.User, len(rows))
	for i, r := range rows {
		out[i] = r.user()
	}
	return out, nil
}

// DeleteUser removes a user and, by cascade, their sessions, and records
// the end of their access (a subject revocation event) in the same
// transaction.
func (d *DB) DeleteUser(ctx context.Context, id string) error {
	return d.AccountTx(ctx, func(tx issuer.AccountTx) error { return tx.DeleteUser(ctx, id) })
}

func deleteUser(ctx context.Context, q sqlx.ExtContext, id string) error {
	res, err := q.ExecContext(ctx, q.Rebind(`DELETE FROM users WHERE id = ?`), id)
	if err != nil {
		return storeErr("delete user", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return issuer.ErrNotFound
	}
	return nil
}

// UpdatePasswordHash replaces a user's password hash `from` with `to`
// (compare-and-swap): false when the hash is no longer `from`, so a
// re-hash at sign-in never undoes a password change made meanwhile.
func (d *DB) UpdatePasswordHash(ctx context.Context, id, from, to string, at time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?`), to, ms(at), id, from)
	if err != nil {
		return false, storeErr("update password hash", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, storeErr("update password hash", err)
	}
	return n == 1, nil
}

// MaxPasswordHashCost returns the highest bcrypt cost among stored
// password hashes (0 when there is none). It reads every row once.
func (d *DB) MaxPasswordHashCost(ctx context.Context) (int, error) {
	// A bcrypt hash is $2a$NN$..., $2b$ or $2y$: the cost is always two digits.
	var cost sql.NullString
	if err := d.db.GetContext(ctx, &cost,
		`SELECT MAX(substr(password_hash, 5, 2)) FROM users WHERE password_hash LIKE '$2_$__$%'`); err != nil {
		return 0, storeErr("max password hash cost", err)
	}
	if !cost.Valid {
		return 0, nil
	}
	n, err := strconv.Atoi(cost.String)
	if err != nil {
		return 0, nil // not a bcrypt hash after all: no cost to match
	}
	return n, nil
}

// FillEmailSkeletons computes the email skeleton of rows that have none
// (rows written before migration 000004, or by an older issuer during a
// rolling upgrade), oldest first. A row whose skeleton is already an
// older row's is left without one: it is a look-alike, and "signet
// check-emails" reports it. It returns how many rows it filled.
func (d *DB) FillEmailSkeletons(ctx context.Context) (int, error) {
	var rows []struct {
		ID    string `db:"id"`
		Email string `db:"email"`
	}
	if err := d.db.SelectContext(ctx, &rows,
		`SELECT id, email FROM users WHERE email_skeleton IS NULL ORDER BY created_at, id`); err != nil {
		return 0, storeErr("list users without skeleton", err)
	}
	filled := 0
	for _, r := range rows {
		res, err := d.db.ExecContext(ctx, d.db.Rebind(
			`UPDATE users SET email_skeleton = ? WHERE id = ? AND email_skeleton IS NULL`), issuer.EmailSkeleton(r.Email), r.ID)
		switch {
		case isUniqueViolation(err):
			continue
		case err != nil:
			return filled, storeErr("fill email skeleton", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			filled++
		}
	}
	return filled, nil
}

// EmailRecord is a user's stored email and skeleton, for the email report.
type EmailRecord struct {
	ID        string
	Email     string
	Skeleton  string // empty when none is stored
	CreatedAt time.Time
}

// EmailRecords returns every user's email and stored skeleton, oldest
// first.
func (d *DB) EmailRecords(ctx context.Context) ([]EmailRecord, error) {
	var rows []struct {
		ID        string         `db:"id"`
		Email     string         `db:"email"`
		Skeleton  sql.NullString `db:"email_skeleton"`
		CreatedAt int64          `db:"created_at"`
	}
	if err := d.db.SelectContext(ctx, &rows,
		`SELECT id, email, email_skeleton, created_at FROM users ORDER BY created_at, id`); err != nil {
		return nil, storeErr("list emails", err)
	}
	out := make([]EmailRecord, len(rows))
	for i, r := range rows {
		out[i] = EmailRecord{ID: r.ID, Email: r.Email, Skeleton: r.Skeleton.String, CreatedAt: fromMS(r.CreatedAt)}
	}
	return out, nil
}
