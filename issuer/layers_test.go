package issuer_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayers keeps the import graph pointing one way: cmd → issuer/httpapi
// → the services in package issuer → keys, verifier and the store
// interfaces. It reads the graph from go list, transitive dependencies
// included.
func TestLayers(t *testing.T) {
	const mod = "github.com/signet-auth/signet/"
	rules := []struct {
		pkg       string
		forbidden []string // import-path prefixes, anywhere in the dependencies
		direct    []string // import-path prefixes the package's own files must not import
	}{
		// The services: no transport, no SQL (database/sql reaches them only
		// through the Prometheus collectors).
		{"issuer", []string{"github.com/gin-gonic/", "github.com/lib/pq", "modernc.org/sqlite", "github.com/jmoiron/sqlx", mod + "issuer/httpapi", mod + "issuer/store", mod + "cmd/"}, []string{"database/sql"}},
		// The HTTP layer translates: it never reaches the database itself.
		{"issuer/httpapi", []string{"github.com/lib/pq", "modernc.org/sqlite", "github.com/jmoiron/sqlx", mod + "issuer/store", mod + "cmd/"}, []string{"database/sql"}},
		// Stores depend inward on the domain, never on a transport.
		{"issuer/store", []string{"github.com/gin-gonic/", mod + "issuer/httpapi", mod + "cmd/"}, nil},
		// keys knows nothing of HTTP servers, accounts or storage drivers.
		{"keys", []string{"github.com/gin-gonic/", "database/sql", mod + "issuer", mod + "cmd/"}, nil},
		// A resource server that imports the verifier compiles the standard
		// library and jwx only.
		{"verifier", []string{"github.com/gin-gonic/", "database/sql", "github.com/prometheus/", mod}, nil},
	}
	list := func(t *testing.T, args ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %v: %v\n%s", args, err, out)
		}
		return strings.Fields(string(out))
	}
	check := func(t *testing.T, pkg, what string, deps, forbidden []string) {
		for _, dep := range deps {
			for _, f := range forbidden {
				if dep != mod+pkg && strings.HasPrefix(dep, f) {
					t.Errorf("%s %s %s", pkg, what, dep)
				}
			}
		}
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			check(t, r.pkg, "depends on", list(t, "-deps", "-f", "{{.ImportPath}}", mod+r.pkg), r.forbidden)
			check(t, r.pkg, "imports", list(t, "-f", `{{join .Imports "\n"}}`, mod+r.pkg), r.direct)
		})
	}
}
