package keys_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/signet-auth/signet/keys"
)

func kek(b byte) []byte { return bytes.Repeat([]byte{b}, keys.KEKSize) }

func sealer(t *testing.T, kek []byte, previous ...[]byte) *keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(kek, previous...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSealedFormUnchanged: what a signet without key rings sealed (this
// vector) still opens, so replicas of both versions share secrets.
func TestSealedFormUnchanged(t *testing.T) {
	old, _ := hex.DecodeString("01de04a1eb64f9afcc3ad75bc3644c52c049d1337b5d97efa8477b8e1243ba2e95cebda9f44012e4fd9c")
	for _, s := range []*keys.Sealer{sealer(t, kek(7)), sealer(t, kek(8), kek(7))} {
		pt, err := s.Open("kid-1", old)
		if err != nil || string(pt) != "a private key" {
			t.Fatalf("Open = %q, %v", pt, err)
		}
	}
	if got := sealer(t, kek(7)).Seal("kid-1", []byte("a private key")); len(got) != len(old) || got[0] != old[0] {
		t.Fatalf("sealed form: % x", got)
	}
}

// TestSealerRing: the first key seals, every key opens; a sealer without
// the sealing key opens nothing.
func TestSealerRing(t *testing.T) {
	oldOnly, newOnly := sealer(t, kek(1)), sealer(t, kek(2))
	ring := sealer(t, kek(2), kek(1))
	byOld := oldOnly.Seal("s1", []byte("secret"))
	byRing := ring.Seal("s2", []byte("secret"))
	for _, c := range []struct {
		name   string
		s      *keys.Sealer
		label  string
		sealed []byte
		ok     bool
	}{
		{"ring opens the old key's", ring, "s1", byOld, true},
		{"ring opens its own", ring, "s2", byRing, true},
		{"the ring seals with its first key", newOnly, "s2", byRing, true},
		{"the old key alone cannot open the ring's", oldOnly, "s2", byRing, false},
		{"the label is bound", ring, "s2", byOld, false},
	} {
		pt, err := c.s.Open(c.label, c.sealed)
		if ok := err == nil && string(pt) == "secret"; ok != c.ok {
			t.Errorf("%s: %q, %v", c.name, pt, err)
		}
		if !c.ok && !errors.Is(err, keys.ErrDecrypt) {
			t.Errorf("%s: %v, want ErrDecrypt", c.name, err)
		}
	}
	if got := ring.Fingerprints(); len(got) != 2 || got[0] != keys.KEKFingerprint(kek(2)) || got[1] != keys.KEKFingerprint(kek(1)) {
		t.Fatalf("Fingerprints = %v", got)
	}
	if got := sealer(t, kek(2), kek(2), kek(1)).Fingerprints(); len(got) != 2 {
		t.Fatalf("a key given twice counts once: %v", got)
	}
}

// TestReseal: a secret under an older key comes back under the first key,
// one already under it comes back nil, one no key opens is ErrDecrypt.
func TestReseal(t *testing.T) {
	old := sealer(t, kek(1)).Seal("s1", []byte("secret"))
	ring := sealer(t, kek(2), kek(1))
	out, err := ring.Reseal("s1", old)
	if err != nil || out == nil {
		t.Fatalf("Reseal = %x, %v", out, err)
	}
	if pt, err := sealer(t, kek(2)).Open("s1", out); err != nil || string(pt) != "secret" {
		t.Fatalf("the new key alone: %q, %v", pt, err)
	}
	if _, err := sealer(t, kek(1)).Open("s1", out); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatal("the old key still opens the re-sealed secret")
	}
	if again, err := ring.Reseal("s1", out); again != nil || err != nil {
		t.Fatalf("Reseal of a current secret = %x, %v; want nil, nil", again, err)
	}
	if _, err := ring.Reseal("s1", sealer(t, kek(3)).Seal("s1", []byte("x"))); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("Reseal under an unknown key: %v", err)
	}
}

func TestParseKEKs(t *testing.T) {
	a, b := base64.StdEncoding.EncodeToString(kek(1)), base64.RawURLEncoding.EncodeToString(kek(2))
	for _, in := range []string{a + "\n" + b + "\n", "# new key first\n" + a + "\n\n" + b, a + "," + b, " " + a + " " + b + " "} {
		ks, err := keys.ParseKEKs(in)
		if err != nil || len(ks) != 2 || !bytes.Equal(ks[0], kek(1)) || !bytes.Equal(ks[1], kek(2)) {
			t.Errorf("ParseKEKs(%q) = %v, %v", in, ks, err)
		}
		if k, err := keys.ParseKEK(in); err != nil || !bytes.Equal(k, kek(1)) {
			t.Errorf("ParseKEK(%q) = %v, %v; want the first key", in, k, err)
		}
	}
	for in, want := range map[string]string{
		"":                       "is empty",
		"# only a comment":       "is empty",
		"not-base64!":            "is not valid base64",
		"AAAA":                   "must decode to 32 bytes, got 3",
		a + "\nAAAA":             "key 2 of 2 must decode to 32 bytes",
		a + "," + b + ",#nope!!": "key 3 of 3 is not valid base64",
	} {
		if _, err := keys.ParseKEKs(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseKEKs(%q) = %v, want %q", in, err, want)
		}
	}
}

// TestWithFirst: the new key seals, and every key of the sealer it came
// from still opens.
func TestWithFirst(t *testing.T) {
	inUse := sealer(t, kek(1), kek(2))
	byTwo := sealer(t, kek(2)).Seal("s", []byte("x"))
	s, err := inUse.WithFirst(kek(3))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Fingerprints(); len(got) != 3 || got[0] != keys.KEKFingerprint(kek(3)) {
		t.Fatalf("Fingerprints = %v", got)
	}
	if _, err := s.Open("s", byTwo); err != nil {
		t.Fatal(err)
	}
	if _, err := sealer(t, kek(3)).Open("t", s.Seal("t", []byte("y"))); err != nil {
		t.Fatal("does not seal with the new key")
	}
	if again, _ := inUse.WithFirst(kek(2)); len(again.Fingerprints()) != 2 {
		t.Fatalf("a key already in the ring counts once: %v", again.Fingerprints())
	}
}
