//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY returns the two ends of a new pseudo-terminal: what is written
// to the controller is read from the terminal.
func openPTY(t *testing.T) (controller, terminal *os.File) {
	t.Helper()
	c, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, c.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, c.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pseudo-terminal number: %v", e)
	}
	term, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { term.Close() })
	return c, term
}

// TestMigrateDownAllAsksOnATerminal: on a terminal, --all asks for the
// database name or "yes"; any other answer changes nothing.
func TestMigrateDownAllAsksOnATerminal(t *testing.T) {
	env := map[string]string{"SIGNET_DATA_DIR": t.TempDir()}
	if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		answer string
		done   bool
	}{
		{"no", false},
		{"", false},
		{"yes", true},
	} {
		t.Run(c.answer, func(t *testing.T) {
			if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
				t.Fatal(err)
			}
			controller, term := openPTY(t)
			if _, err := controller.WriteString(c.answer + "\n"); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := signet(t, env, term, "migrate down --all")
			if !strings.Contains(stderr, "Type the database name or yes") {
				t.Fatalf("no prompt on the terminal: %q", stderr)
			}
			if c.done {
				if err != nil || !strings.Contains(out, schemaAt(0)) {
					t.Fatalf("answer %q: %v %q", c.answer, err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "not confirmed; nothing was changed") {
				t.Fatalf("answer %q: %v", c.answer, err)
			}
			if v := schemaVersion(t, env); v != fullSchema() {
				t.Fatalf("after answer %q: %s", c.answer, v)
			}
		})
	}
	t.Run("database name", func(t *testing.T) {
		if _, _, err := signet(t, env, nil, "migrate up"); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadFor(t, "migrate", env)
		if err != nil {
			t.Fatal(err)
		}
		controller, term := openPTY(t)
		if _, err := controller.WriteString(cfg.db.Name + "\n"); err != nil {
			t.Fatal(err)
		}
		if out, _, err := signet(t, env, term, "migrate down --all"); err != nil || !strings.Contains(out, schemaAt(0)) {
			t.Fatalf("typing the database name %q: %v %q", cfg.db.Name, err, out)
		}
	})
}
