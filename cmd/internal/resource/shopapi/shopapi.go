// Package shopapi is the shop demo resource server, written with
// net/http: it verifies access tokens offline with package verifier,
// requires orders:read or orders:write on its routes, and shows a call to
// video-api on the user's behalf: it authenticates to the issuer as a
// confidential client with its own key (private_key_jwt; the issuer has
// only the public half, which shop-api serves at /.well-known/jwks.json),
// exchanges the user's token for one meant for video-api (RFC 8693), and
// calls video-api with it.
package shopapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/cmd/internal/resource/videoapi"
	"github.com/signet-auth/signet/verifier"
)

// Defaults: the name (also its client id), the resource indicator
// shop-api is registered under (the aud of its tokens) and its scopes.
const (
	Name        = "shop-api"
	Resource    = "https://shop.example"
	ScopeRead   = "orders:read"
	ScopeWrite  = "orders:write"
	defaultAddr = "127.0.0.1:8081"
)

const maxVideoReplyBytes = 64 << 10

// settings are shop-api's own.
type settings struct {
	clientID      string
	keyFile       string
	videoURL      string
	videoResource string
}

// Server is shop-api.
func Server() resource.Server {
	st := &settings{}
	return resource.Server{
		Name: Name, DefaultAddr: defaultAddr, DefaultAudience: Resource,
		Flags: func(fs *flag.FlagSet, getenv func(string) string) {
			fs.StringVar(&st.clientID, "client-id", cmp.Or(getenv("CLIENT_ID"), Name), "this server's client id at the issuer (env CLIENT_ID)")
			fs.StringVar(&st.keyFile, "key-file", cmp.Or(getenv("KEY_FILE"), "shop-api.key"),
				"this server's private key as a client (PKCS #8 PEM, Ed25519), made on first start if missing (env KEY_FILE)")
			fs.StringVar(&st.videoURL, "video-url", cmp.Or(getenv("VIDEO_URL"), "http://127.0.0.1:8082"), "video-api's base URL (env VIDEO_URL)")
			fs.StringVar(&st.videoResource, "video-resource", cmp.Or(getenv("VIDEO_RESOURCE"), videoapi.Resource),
				"video-api's resource indicator, asked for in the token exchange (env VIDEO_RESOURCE)")
		},
		Routes: func(cfg resource.Config, v *verifier.Verifier, log *slog.Logger) (http.Handler, error) {
			return routes(cfg, st, v, log)
		},
	}
}

func routes(cfg resource.Config, st *settings, v *verifier.Verifier, log *slog.Logger) (http.Handler, error) {
	key, created, err := resource.LoadOrCreateClientKey(st.keyFile)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("made a new client key; register its public JWK with the issuer (jwks_uri: this server's /.well-known/jwks.json)",
			"key_file", st.keyFile, "kid", key.KID, "jwks", json.RawMessage(key.JWKS))
	} else {
		log.Info("client key", "key_file", st.keyFile, "kid", key.KID, "jwks", json.RawMessage(key.JWKS))
	}
	ex := &resource.Exchanger{Issuer: cfg.Issuer, ClientID: st.clientID, Key: key}
	videoClient := &http.Client{Timeout: 10 * time.Second}

	mux := http.NewServeMux()
	// The public half of the client key, for the issuer's registry
	// (jwks_uri).
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(key.JWKS)
	})

	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusOK, resource.IdentityOf(cfg.Name, c))
	})
	api.Handle("GET /api/orders", verifier.RequireScope(ScopeRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusOK, map[string]any{"customer": c.Subject, "orders": orders()})
	})))
	api.Handle("POST /api/orders", verifier.RequireScope(ScopeWrite)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		resource.WriteJSON(w, http.StatusCreated, map[string]any{"customer": c.Subject, "order": map[string]any{"id": "ord_1002", "status": "received"}})
	})))
	// The orders with the videos the customer may watch: video-api is
	// called with a token exchanged for the caller's, never with the
	// caller's own (which video-api refuses: its aud is shop-api).
	api.Handle("GET /api/overview", verifier.RequireScope(ScopeRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		t, err := ex.Exchange(r.Context(), strings.TrimSpace(raw), st.videoResource, videoapi.ScopeRead)
		if err != nil {
			log.WarnContext(r.Context(), "token exchange failed", "error", err)
			var ee *resource.ExchangeError
			desc := "the issuer could not be reached"
			if errors.As(err, &ee) {
				desc = fmt.Sprintf("the issuer refused the token exchange: %s", ee.Code)
			}
			resource.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": "token_exchange_failed", "error_description": desc})
			return
		}
		status, videos, err := callVideo(r, videoClient, st.videoURL, t.AccessToken)
		if err != nil || status != http.StatusOK {
			log.WarnContext(r.Context(), "video-api call failed", "status", status, "error", err)
			resource.WriteJSON(w, http.StatusBadGateway, map[string]any{"error": "video_api_failed",
				"error_description": fmt.Sprintf("video-api answered %d", status), "video_api": videos})
			return
		}
		resource.WriteJSON(w, http.StatusOK, map[string]any{
			"customer":     c.Subject,
			"orders":       orders(),
			"video_scope":  t.Scope,
			"video_answer": videos,
		})
	})))
	protect := verifier.Middleware(v, verifier.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, err error) {
		resource.Unauthorized(w, err)
	}))
	mux.Handle("/api/", protect(api))
	return mux, nil
}

func orders() []map[string]any {
	return []map[string]any{{"id": "ord_1001", "item": "Espresso beans, 1 kg", "total": "24.00 EUR"}}
}

// callVideo GETs video-api's /api/videos with token, and returns its
// status and JSON body.
func callVideo(r *http.Request, hc *http.Client, base, token string) (int, json.RawMessage, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, strings.TrimRight(base, "/")+"/api/videos", nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxVideoReplyBytes))
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if !json.Valid(b) {
		return resp.StatusCode, nil, errors.New("video-api: the answer is not JSON")
	}
	return resp.StatusCode, b, nil
}
