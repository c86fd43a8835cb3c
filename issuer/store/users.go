package store

import (
	"context"
	"database/sql"
	"errors"

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
}

func (r userRow) user() issuer.User {
	return issuer.User{ID: r.ID, Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: fromMS(r.CreatedAt), EmailVerified: r.VerifiedAt.Valid}
}

// userColumns are the columns userRow reads.
const userColumns = `id, email, password_hash, created_at, email_verified_at`

// verifiedAt is the stored confirmation time of a new user: its creation
// when it is created confirmed.
func verifiedAt(u issuer.User) sql.NullInt64 {
	if !u.EmailVerified {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: ms(u.CreatedAt), Valid: true}
}

// CreateUser inserts u; an email already registered gives issuer.ErrEmailTaken.
func (d *DB) CreateUser(ctx context.Context, u issuer.User) error {
	return createUser(ctx, d.db, u)
}

func createUser(ctx context.Context, q sqlx.ExtContext, u issuer.User) error {
	_, err := q.ExecContext(ctx, q.Rebind(
		`INSERT INTO users (id, email, password_hash, created_at, updated_at, email_verified_at) VALUES (?, ?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, ms(u.CreatedAt), ms(u.CreatedAt), verifiedAt(u))
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

// DeleteUser removes a user and, by cascade, their sessions.
func (d *DB) DeleteUser(ctx context.Context, id string) error {
	return deleteUser(ctx, d.db, id)
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
