package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMDrains runs the real binary: on SIGTERM it answers /readyz
// with 503 at once and goes on accepting new connections through the
// drain period; a second signal stops it.
func TestSIGTERMDrains(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "signet")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SIGNET_DATA_DIR="+t.TempDir(), "SIGNET_BCRYPT_COST=4", "SIGNET_SHUTDOWN_DRAIN=5m", "SIGNET_LOG_FORMAT=json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	logs := &syncBuffer{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(io.TeeReader(stderr, logs))
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addr <- line.Addr
			}
		}
		exited <- cmd.Wait()
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-exited:
		exited <- err
		t.Fatalf("serve exited: %v\n%s", err, logs)
	case <-time.After(time.Minute):
		t.Fatalf("serve did not start:\n%s", logs)
	}
	get := func(path string) int {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, logs)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for get("/readyz") != 200 {
		time.Sleep(20 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for get("/readyz") != http.StatusServiceUnavailable {
		time.Sleep(5 * time.Millisecond)
	}
	for range 50 {
		if code := get("/healthz"); code != 200 {
			t.Fatalf("healthz on a new connection while draining: %d", code)
		}
	}
	if !strings.Contains(logs.String(), `"msg":"draining: /readyz answers 503 until the listener closes","drain":"5m0s"`) {
		t.Fatalf("no drain line in the log:\n%s", logs)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-exited
	exited <- err // for the cleanup
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("after a second SIGTERM the process ended with %v, want killed by SIGTERM", err)
	}
}

// TestServeCapsConnectionsPerAddress: SIGNET_MAX_CONNS_PER_IP reaches the
// listener.
func TestServeCapsConnectionsPerAddress(t *testing.T) {
	base, _ := startServe(t, map[string]string{"SIGNET_DATA_DIR": t.TempDir(), "SIGNET_BCRYPT_COST": "4", "SIGNET_MAX_CONNS_PER_IP": "2"})
	host := strings.TrimPrefix(base, "http://")
	request := func(c net.Conn) (string, error) {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		return bufio.NewReader(c).ReadString('\n')
	}
	for i := range 3 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		line, err := request(c)
		switch {
		case i < 2 && (err != nil || !strings.HasPrefix(line, "HTTP/1.1 200")):
			t.Fatalf("connection %d within the cap: %q %v", i+1, line, err)
		case i == 2 && err == nil:
			t.Fatalf("a third open connection from one address was served: %q", line)
		}
	}
}
