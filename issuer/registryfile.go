package issuer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// RegistryFile is the registry declared in a file (SIGNET_REGISTRY_FILE):
// resources and clients, in the JSON of Resource and Client. Applying it
// creates what is missing and updates what differs; what it no longer
// names is removed only when Prune is set.
type RegistryFile struct {
	Prune     bool       `json:"prune"`
	Resources []Resource `json:"resources"`
	Clients   []Client   `json:"clients"`
}

// ParseRegistryFile reads a registry file strictly (unknown fields are
// errors).
func ParseRegistryFile(b []byte) (RegistryFile, error) {
	var f RegistryFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return RegistryFile{}, fmt.Errorf("registry file: %w", err)
	}
	return f, nil
}

// ApplyResult counts what Apply changed.
type ApplyResult struct{ Created, Updated, Deleted, Unchanged int }

// Apply makes the stored registry match f. Applying the same file twice
// changes nothing the second time. A client in a file cannot use
// client_secret_basic (its secret could be shown to no one).
func (g *Registry) Apply(ctx context.Context, caller Caller, f RegistryFile) (ApplyResult, error) {
	var res ApplyResult
	named := map[string]bool{}
	for _, r := range f.Resources {
		named[r.URI] = true
		if err := g.checkResource(&r); err != nil {
			return res, fmt.Errorf("registry file: resource %s: %w", r.URI, err)
		}
		old, err := g.store.Resource(ctx, r.URI)
		switch {
		case errors.Is(err, ErrNotFound):
			if _, err := g.CreateResource(ctx, caller, r); err != nil {
				return res, err
			}
			res.Created++
		case err != nil:
			return res, err
		case old.Name == r.Name && reflect.DeepEqual(old.Scopes, r.Scopes) && reflect.DeepEqual(len(old.RoleScopes) == 0, len(r.RoleScopes) == 0) &&
			(len(r.RoleScopes) == 0 || reflect.DeepEqual(old.RoleScopes, r.RoleScopes)):
			res.Unchanged++
		default:
			if _, err := g.UpdateResource(ctx, caller, r); err != nil {
				return res, err
			}
			res.Updated++
		}
	}
	namedClients := map[string]bool{}
	for _, c := range f.Clients {
		namedClients[c.ID] = true
		if c.AuthMethod == AuthClientSecretBasic {
			return res, fmt.Errorf("registry file: client %s: client_secret_basic clients are made with signet clients create", c.ID)
		}
		if err := g.checkClient(ctx, &c); err != nil {
			return res, fmt.Errorf("registry file: client %s: %w", c.ID, err)
		}
		old, err := g.store.Client(ctx, c.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			if _, _, err := g.CreateClient(ctx, caller, c); err != nil {
				return res, err
			}
			res.Created++
		case err != nil:
			return res, err
		case sameClient(old, c):
			res.Unchanged++
		default:
			if _, _, err := g.UpdateClient(ctx, caller, c, false); err != nil {
				return res, err
			}
			res.Updated++
		}
	}
	if !f.Prune {
		return res, nil
	}
	cs, err := g.store.ListClients(ctx)
	if err != nil {
		return res, err
	}
	for _, c := range cs {
		if !namedClients[c.ID] {
			if err := g.DeleteClient(ctx, caller, c.ID); err != nil {
				return res, err
			}
			res.Deleted++
		}
	}
	rs, err := g.store.ListResources(ctx)
	if err != nil {
		return res, err
	}
	for _, r := range rs {
		if !named[r.URI] {
			if err := g.DeleteResource(ctx, caller, r.URI); err != nil {
				return res, err
			}
			res.Deleted++
		}
	}
	return res, nil
}

// sameClient compares the metadata a file declares.
func sameClient(a, b Client) bool {
	a.CreatedAt, a.UpdatedAt, a.SecretHash, a.HasSecret = b.CreatedAt, b.UpdatedAt, nil, false
	b.SecretHash, b.HasSecret = nil, false
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}
