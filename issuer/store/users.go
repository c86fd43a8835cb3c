package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/signet-auth/signet/issuer"
)

type userRow struct {
	ID           string `db:"id"`
	Email        string `db:"email"`
	PasswordHash string `db:"password_hash"`
	CreatedAt    int64  `db:"created_at"`
}

func (r userRow) user() issuer.User {
	return issuer.User{ID: r.ID, Email: r.Email, PasswordHash: r.PasswordHash, CreatedAt: fromMS(r.CreatedAt)}
}

// CreateUser inserts u; an email already registered gives issuer.ErrEmailTaken.
func (d *DB) CreateUser(ctx context.Context, u issuer.User) error {
	_, err := d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`),
		u.ID, u.Email, u.PasswordHash, ms(u.CreatedAt), ms(u.CreatedAt))
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
	return d.user(ctx, `SELECT id, email, password_hash, created_at FROM users WHERE lower(email) = lower(?)`, email)
}

// UserByID finds a user by id.
func (d *DB) UserByID(ctx context.Context, id string) (issuer.User, error) {
	return d.user(ctx, `SELECT id, email, password_hash, created_at FROM users WHERE id = ?`, id)
}

func (d *DB) user(ctx context.Context, query string, arg any) (issuer.User, error) {
	var r userRow
	err := d.db.GetContext(ctx, &r, d.db.Rebind(query), arg)
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
		`SELECT id, email, password_hash, created_at FROM users ORDER BY created_at, id LIMIT ?`), limit); err != nil {
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
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM users WHERE id = ?`), id)
	if err != nil {
		return storeErr("delete user", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return issuer.ErrNotFound
	}
	return nil
}
