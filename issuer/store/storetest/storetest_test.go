//go:build unix

package storetest_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestHelperSkips is run by TestSkipIsAnnounced in a child process with an
// unreachable Postgres: both subtests skip.
func TestHelperSkips(t *testing.T) {
	if os.Getenv("STORETEST_HELPER") != "1" {
		t.Skip("helper for TestSkipIsAnnounced")
	}
	for _, name := range []string{"one", "two"} {
		t.Run(name, func(t *testing.T) { storetest.URL(t, store.Postgres) })
	}
}

// TestSkipIsAnnounced: without -v, a skipped Postgres half is announced
// once on the test binary's stderr when there is no terminal (and on the
// terminal when there is one), since go test ./... shows nothing else of
// a package that passes.
func TestSkipIsAnnounced(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSkips$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STORETEST_HELPER=1", "CI=",
		"SIGNET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	// A new session has no controlling terminal: the notice goes to stderr.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if n := strings.Count(stderr.String(), "Postgres unreachable, skipping its half of the test"); n != 1 {
		t.Fatalf("the skip was announced %d times on stderr, want once:\nstderr: %s\nstdout: %s", n, stderr.String(), stdout.String())
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Fatalf("helper output: %s", stdout.String())
	}
}
