// Command shop-api is a demo resource server written with net/http: it
// knows only the issuer's URL and its own audience, and verifies access
// tokens offline with package verifier.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/verifier"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "shop-api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	return resource.Run(ctx, "shop-api", "127.0.0.1:8081", args, getenv, stderr, routes)
}

// routes protects /api/ with verifier.Middleware.
func routes(cfg resource.Config, v *verifier.Verifier, _ *slog.Logger) http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusOK, resource.IdentityOf(cfg.Name, c))
	})
	api.HandleFunc("GET /api/orders", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusOK, map[string]any{
			"customer": c.Subject,
			"orders":   []map[string]any{{"id": "ord_1001", "item": "Espresso beans, 1 kg", "total": "24.00 EUR"}},
		})
	})
	protect := verifier.Middleware(v, verifier.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		resource.Unauthorized(w, err)
	}))
	return protect(api)
}
