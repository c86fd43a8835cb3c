package issuer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles gives users roles and takes them away. Roles are carried in the
// roles claim and map to scopes per resource (Resource.RoleScopes).
type Roles struct {
	store interface {
		RoleStore
		UserStore
	}
	audit *Auditor
	now   func() time.Time
}

// NewRoles returns the role service over store.
func NewRoles(cfg Config, store interface {
	RoleStore
	UserStore
	AuditStore
}) (*Roles, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Roles{store: store, audit: NewAuditor(store, cfg.Logger, cfg.Now), now: cfg.Now}, nil
}

// user finds a user by email (with an @) or id (ErrNotFound).
func (r *Roles) user(ctx context.Context, idOrEmail string) (User, error) {
	var u User
	var err error
	if strings.Contains(idOrEmail, "@") {
		var email string
		if email, err = NormalizeEmail(idOrEmail); err == nil {
			u, err = r.store.UserByEmail(ctx, email)
		}
	} else {
		u, err = r.store.UserByID(ctx, idOrEmail)
	}
	if errors.Is(err, ErrNotFound) || KindOf(err) == KindInvalid {
		return User{}, fmt.Errorf("issuer: user %s: %w", idOrEmail, ErrNotFound)
	}
	return u, err
}

// List returns a user's roles, sorted.
func (r *Roles) List(ctx context.Context, idOrEmail string) ([]string, error) {
	u, err := r.user(ctx, idOrEmail)
	if err != nil {
		return nil, err
	}
	return r.store.UserRoles(ctx, u.ID)
}

// Add gives a user a role; false when they had it. Audited when it
// changes anything.
func (r *Roles) Add(ctx context.Context, caller Caller, idOrEmail, role string) (bool, error) {
	return r.change(ctx, caller, idOrEmail, role, true)
}

// Remove takes a role from a user; false when they did not have it.
func (r *Roles) Remove(ctx context.Context, caller Caller, idOrEmail, role string) (bool, error) {
	return r.change(ctx, caller, idOrEmail, role, false)
}

func (r *Roles) change(ctx context.Context, caller Caller, idOrEmail, role string, add bool) (bool, error) {
	if !validName(role) {
		return false, Errorf(KindInvalid, "role %q: use 1 to 128 letters, digits and . _ : -", role)
	}
	u, err := r.user(ctx, idOrEmail)
	if err != nil {
		return false, err
	}
	var changed bool
	typ := "user.role.add"
	if add {
		changed, err = r.store.AddUserRole(ctx, u.ID, role, r.now().UnixMilli())
	} else {
		typ = "user.role.remove"
		changed, err = r.store.RemoveUserRole(ctx, u.ID, role)
	}
	if err != nil || !changed {
		return false, err
	}
	r.audit.Record(ctx, caller, AuditEvent{Type: typ, UserID: u.ID, Detail: map[string]string{"role": role}})
	return true, nil
}
