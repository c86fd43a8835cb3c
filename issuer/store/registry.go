package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/signet-auth/signet/issuer"
)

var _ issuer.RegistryStore = (*DB)(nil)

type resourceRow struct {
	URI        string `db:"uri"`
	Name       string `db:"name"`
	Scopes     string `db:"scopes"`
	RoleScopes string `db:"role_scopes"`
	CreatedAt  int64  `db:"created_at"`
	UpdatedAt  int64  `db:"updated_at"`
}

func (r resourceRow) resource() (issuer.Resource, error) {
	res := issuer.Resource{URI: r.URI, Name: r.Name, CreatedAt: fromMS(r.CreatedAt), UpdatedAt: fromMS(r.UpdatedAt)}
	if err := json.Unmarshal([]byte(r.Scopes), &res.Scopes); err != nil {
		return issuer.Resource{}, storeErr("resource scopes", err)
	}
	if err := json.Unmarshal([]byte(r.RoleScopes), &res.RoleScopes); err != nil {
		return issuer.Resource{}, storeErr("resource role scopes", err)
	}
	if len(res.RoleScopes) == 0 {
		res.RoleScopes = nil
	}
	return res, nil
}

func resourceArgs(r issuer.Resource) (scopes, roleScopes string, err error) {
	s := r.Scopes
	if s == nil {
		s = []string{}
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", "", storeErr("resource scopes", err)
	}
	rs := r.RoleScopes
	if rs == nil {
		rs = map[string][]string{}
	}
	b2, err := json.Marshal(rs)
	if err != nil {
		return "", "", storeErr("resource role scopes", err)
	}
	return string(b), string(b2), nil
}

// CreateResource inserts r (issuer.ErrExists if its URI is taken).
func (d *DB) CreateResource(ctx context.Context, r issuer.Resource) error {
	scopes, roleScopes, err := resourceArgs(r)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO resources (uri, name, scopes, role_scopes, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
		r.URI, r.Name, scopes, roleScopes, ms(r.CreatedAt), ms(r.UpdatedAt))
	if isUniqueViolation(err) {
		return issuer.ErrExists
	}
	return storeErrOrNil("create resource", err)
}

// UpdateResource replaces the stored resource r.URI (issuer.ErrNotFound).
func (d *DB) UpdateResource(ctx context.Context, r issuer.Resource) error {
	scopes, roleScopes, err := resourceArgs(r)
	if err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`UPDATE resources SET name = ?, scopes = ?, role_scopes = ?, updated_at = ? WHERE uri = ?`),
		r.Name, scopes, roleScopes, ms(r.UpdatedAt), r.URI)
	return oneRow("update resource", res, err)
}

// DeleteResource removes a resource (issuer.ErrNotFound).
func (d *DB) DeleteResource(ctx context.Context, uri string) error {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM resources WHERE uri = ?`), uri)
	return oneRow("delete resource", res, err)
}

const resourceColumns = `uri, name, scopes, role_scopes, created_at, updated_at`

// Resource finds a resource by URI (issuer.ErrNotFound).
func (d *DB) Resource(ctx context.Context, uri string) (issuer.Resource, error) {
	var r resourceRow
	err := sqlx.GetContext(ctx, d.db, &r, d.db.Rebind(`SELECT `+resourceColumns+` FROM resources WHERE uri = ?`), uri)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Resource{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.Resource{}, storeErr("get resource", err)
	}
	return r.resource()
}

// ListResources returns every stored resource by URI.
func (d *DB) ListResources(ctx context.Context) ([]issuer.Resource, error) {
	var rows []resourceRow
	if err := sqlx.SelectContext(ctx, d.db, &rows, `SELECT `+resourceColumns+` FROM resources ORDER BY uri`); err != nil {
		return nil, storeErr("list resources", err)
	}
	out := make([]issuer.Resource, 0, len(rows))
	for _, r := range rows {
		res, err := r.resource()
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

type clientRow struct {
	ID         string `db:"id"`
	Metadata   string `db:"metadata"`
	SecretHash []byte `db:"secret_hash"`
	CreatedAt  int64  `db:"created_at"`
	UpdatedAt  int64  `db:"updated_at"`
}

func (r clientRow) client() (issuer.Client, error) {
	var c issuer.Client
	if err := json.Unmarshal([]byte(r.Metadata), &c); err != nil {
		return issuer.Client{}, storeErr("client metadata", err)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = r.ID, fromMS(r.CreatedAt), fromMS(r.UpdatedAt)
	c.SecretHash, c.HasSecret = r.SecretHash, len(r.SecretHash) > 0
	return c, nil
}

func clientMetadata(c issuer.Client) (string, any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", nil, storeErr("client metadata", err)
	}
	var hash any
	if len(c.SecretHash) > 0 {
		hash = c.SecretHash
	}
	return string(b), hash, nil
}

// CreateClient inserts c (issuer.ErrExists if its id is taken).
func (d *DB) CreateClient(ctx context.Context, c issuer.Client) error {
	meta, hash, err := clientMetadata(c)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO clients (id, metadata, secret_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`),
		c.ID, meta, hash, ms(c.CreatedAt), ms(c.UpdatedAt))
	if isUniqueViolation(err) {
		return issuer.ErrExists
	}
	return storeErrOrNil("create client", err)
}

// UpdateClient replaces the stored client c.ID, secret hash included
// (issuer.ErrNotFound).
func (d *DB) UpdateClient(ctx context.Context, c issuer.Client) error {
	meta, hash, err := clientMetadata(c)
	if err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`UPDATE clients SET metadata = ?, secret_hash = ?, updated_at = ? WHERE id = ?`),
		meta, hash, ms(c.UpdatedAt), c.ID)
	return oneRow("update client", res, err)
}

// DeleteClient removes a client (issuer.ErrNotFound).
func (d *DB) DeleteClient(ctx context.Context, id string) error {
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM clients WHERE id = ?`), id)
	return oneRow("delete client", res, err)
}

// Client finds a client by id (issuer.ErrNotFound).
func (d *DB) Client(ctx context.Context, id string) (issuer.Client, error) {
	var r clientRow
	err := sqlx.GetContext(ctx, d.db, &r, d.db.Rebind(`SELECT id, metadata, secret_hash, created_at, updated_at FROM clients WHERE id = ?`), id)
	if errors.Is(err, sql.ErrNoRows) {
		return issuer.Client{}, issuer.ErrNotFound
	}
	if err != nil {
		return issuer.Client{}, storeErr("get client", err)
	}
	return r.client()
}

// ListClients returns every stored client by id.
func (d *DB) ListClients(ctx context.Context) ([]issuer.Client, error) {
	var rows []clientRow
	if err := sqlx.SelectContext(ctx, d.db, &rows, `SELECT id, metadata, secret_hash, created_at, updated_at FROM clients ORDER BY id`); err != nil {
		return nil, storeErr("list clients", err)
	}
	out := make([]issuer.Client, 0, len(rows))
	for _, r := range rows {
		c, err := r.client()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func storeErrOrNil(op string, err error) error {
	if err != nil {
		return storeErr(op, err)
	}
	return nil
}

// oneRow turns an update or delete that touched no row into
// issuer.ErrNotFound.
func oneRow(op string, res sql.Result, err error) error {
	if err != nil {
		return storeErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return storeErr(op, err)
	}
	if n == 0 {
		return issuer.ErrNotFound
	}
	return nil
}

var _ issuer.RoleStore = (*DB)(nil)

// UserRoles lists a user's roles, sorted.
func (d *DB) UserRoles(ctx context.Context, userID string) ([]string, error) {
	roles := []string{}
	if err := sqlx.SelectContext(ctx, d.db, &roles, d.db.Rebind(`SELECT role FROM user_roles WHERE user_id = ? ORDER BY role`), userID); err != nil {
		return nil, storeErr("user roles", err)
	}
	return roles, nil
}

// AddUserRole gives a user a role; false if they had it
// (issuer.ErrNotFound if there is no such user).
func (d *DB) AddUserRole(ctx context.Context, userID, role string, at int64) (bool, error) {
	if _, err := d.UserByID(ctx, userID); err != nil {
		return false, err
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO user_roles (user_id, role, created_at) VALUES (?, ?, ?) ON CONFLICT (user_id, role) DO NOTHING`), userID, role, at)
	if err != nil {
		return false, storeErr("add user role", err)
	}
	n, err := res.RowsAffected()
	return n > 0, storeErrOrNil("add user role", err)
}

// RemoveUserRole takes a role from a user; false if they did not have it.
func (d *DB) RemoveUserRole(ctx context.Context, userID, role string) (bool, error) {
	if _, err := d.UserByID(ctx, userID); err != nil {
		return false, err
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM user_roles WHERE user_id = ? AND role = ?`), userID, role)
	if err != nil {
		return false, storeErr("remove user role", err)
	}
	n, err := res.RowsAffected()
	return n > 0, storeErrOrNil("remove user role", err)
}

var _ issuer.AssertionStore = (*DB)(nil)

// SpendAssertion records a client assertion's jti until it expires; false
// when it is already recorded. Expired records are dropped on the way.
func (d *DB) SpendAssertion(ctx context.Context, clientID, jti string, expiresAt, now time.Time) (bool, error) {
	if _, err := d.db.ExecContext(ctx, d.db.Rebind(`DELETE FROM client_assertions WHERE expires_at < ?`), ms(now)); err != nil {
		return false, storeErr("purge client assertions", err)
	}
	res, err := d.db.ExecContext(ctx, d.db.Rebind(
		`INSERT INTO client_assertions (client_id, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT (client_id, jti) DO NOTHING`),
		clientID, jti, ms(expiresAt))
	if err != nil {
		return false, storeErr("spend client assertion", err)
	}
	n, err := res.RowsAffected()
	return n == 1, storeErrOrNil("spend client assertion", err)
}
