package resource_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-auth/signet/cmd/internal/resource"
)

// TestClientKeyFile: the first load makes a key (mode 0600) whose JWKS
// holds only the public half; the next load reads the same key; a file
// every user can read is refused.
func TestClientKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "shop-api.key")
	k1, created, err := resource.LoadOrCreateClientKey(path)
	if err != nil || !created {
		t.Fatalf("first load: %v created=%v", err, created)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(k1.JWKS, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["d"] != nil ||
		set.Keys[0]["kid"] != k1.KID || set.Keys[0]["alg"] != "EdDSA" || set.Keys[0]["use"] != "sig" {
		t.Fatalf("public JWKS: %s %v", k1.JWKS, err)
	}
	k2, created, err := resource.LoadOrCreateClientKey(path)
	if err != nil || created || k2.KID != k1.KID || !k2.Private.Equal(k1.Private) {
		t.Fatalf("second load: %v created=%v kid %s vs %s", err, created, k2.KID, k1.KID)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := resource.LoadOrCreateClientKey(path); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
}
