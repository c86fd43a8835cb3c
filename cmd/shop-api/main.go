// Command shop-api is a demo resource server written with net/http: it
// knows only the issuer's URL and its own audience, and verifies access
// tokens offline with package verifier.
package main

import (
	"log/slog"
	"net/http"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/verifier"
)

func main() { resource.Main("shop-api", "127.0.0.1:8081", routes) }

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
