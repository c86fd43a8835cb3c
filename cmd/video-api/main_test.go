package main

import (
	"context"
	"io"
	"testing"

	"github.com/signet-auth/signet/cmd/internal/testissuer"
)

func TestAcceptsIssuerTokensOnly(t *testing.T) {
	iss := testissuer.Start(t, "shop-api", "video-api")
	addr := testissuer.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", addr, "--issuer", iss.URL}, func(string) string { return "" }, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	testissuer.WaitHealthy(t, "http://"+addr)
	testissuer.CheckResourceServer(t, iss, "http://"+addr, "/api/me", "ann@example.com")
}
