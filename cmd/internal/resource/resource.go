// Package resource is the shared frame of Signet's demo resource servers:
// configuration (the issuer URL and the server's resource indicator), the
// verifier, CORS for browser pages, the 401, 403 and 503 bodies, graceful
// shutdown, and for a server that calls another on a user's behalf, its
// client key and token exchange. Each demo server brings its own routes
// and middleware flavour.
package resource

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"

	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/signet-auth/signet/cmd/internal/httprun"
	"github.com/signet-auth/signet/verifier"
)

// Config is a demo resource server's configuration.
type Config struct {
	Name     string
	Addr     string
	Issuer   string
	Audience string
	// Origins may call the API from a browser (CORS, no credentials).
	Origins []string
}

// Server is one demo resource server: its name, defaults, own settings
// and routes.
type Server struct {
	Name            string
	DefaultAddr     string
	DefaultAudience string // the resource indicator it is registered under
	// Flags, if set, registers the server's own settings (each with an
	// environment variable read through getenv; the flag overrides it).
	Flags func(fs *flag.FlagSet, getenv func(string) string)
	// Routes makes the handler once the settings are parsed; an error
	// stops start-up.
	Routes func(cfg Config, v *verifier.Verifier, log *slog.Logger) (http.Handler, error)
}

// Main is a demo server's main: it runs Run with the process's arguments
// and environment until SIGINT or SIGTERM.
func Main(s Server) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, s, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
		os.Exit(1)
	}
}

// Run parses args and the environment (ADDR, ISSUER_URL, AUDIENCE,
// ALLOWED_ORIGINS and the server's own; flags override), builds the
// verifier, and serves the handler that s.Routes makes until ctx is done.
func Run(ctx context.Context, s Server, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet(s.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := Config{Name: s.Name}
	fs.StringVar(&cfg.Addr, "addr", cmp.Or(getenv("ADDR"), s.DefaultAddr), "listen address (env ADDR)")
	fs.StringVar(&cfg.Issuer, "issuer", getenv("ISSUER_URL"), "issuer URL, exactly as in the tokens' iss (env ISSUER_URL)")
	fs.StringVar(&cfg.Audience, "audience", cmp.Or(getenv("AUDIENCE"), s.DefaultAudience, s.Name), "this server's resource indicator, the aud of its tokens (env AUDIENCE)")
	origins := fs.String("allowed-origins", getenv("ALLOWED_ORIGINS"), "browser origins allowed to call the API, comma-separated (env ALLOWED_ORIGINS)")
	if s.Flags != nil {
		s.Flags(fs, getenv)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if cfg.Issuer == "" {
		return errors.New("ISSUER_URL (or --issuer) is required")
	}
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			cfg.Origins = append(cfg.Origins, o)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("service", s.Name)

	// Lazy: the server starts even while the issuer is down or still
	// starting, and answers 503 keyset_unavailable with Retry-After until a
	// JWKS fetch (retried in the background with backoff) succeeds. A short
	// wait lets the first token after an unexpected key change pass.
	// The refresh follows the issuer's max-age down to one second (the
	// failure scenario runs the issuer with a 2 s max-age).
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:             cfg.Issuer,
		Audience:           cfg.Audience,
		Lazy:               true,
		UnknownKIDWait:     2 * time.Second,
		MinRefreshInterval: time.Second,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	api, err := s.Routes(cfg, v, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/", api)
	hs := &http.Server{
		Handler:           cors(cfg.Origins, mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	log.Info("serving", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "audience", cfg.Audience)
	return httprun.Serve(ctx, hs, ln, 10*time.Second)
}

// Unauthorized answers a failed authentication like verifier.WriteError
// (401 with WWW-Authenticate for a missing or bad token, 503 with
// Retry-After while the verifier has no usable key set), with the error
// kind added to the body so clients can tell "expired" from "forged".
func Unauthorized(w http.ResponseWriter, err error) {
	rec := &headerRecorder{h: http.Header{}}
	verifier.WriteError(rec, "", err)
	for k, v := range rec.h {
		w.Header()[k] = v
	}
	var body map[string]string
	_ = json.Unmarshal(rec.body, &body)
	body["kind"] = verifier.ErrorKind(err)
	WriteJSON(w, rec.status, body)
}

type headerRecorder struct {
	h      http.Header
	status int
	body   []byte
}

func (r *headerRecorder) Header() http.Header    { return r.h }
func (r *headerRecorder) WriteHeader(status int) { r.status = status }
func (r *headerRecorder) Write(b []byte) (int, error) {
	r.body = append(r.body, b...)
	return len(b), nil
}

// Identity is the body of the protected endpoint.
type Identity struct {
	Service string `json:"service"`
	Subject string `json:"sub"`
	Email   string `json:"email"`
	Session string `json:"sid"`
	Expires int64  `json:"exp"`
}

// IdentityOf describes the caller.
func IdentityOf(service string, c *verifier.Claims) Identity {
	return Identity{Service: service, Subject: c.Subject, Email: c.Email, Session: c.SessionID, Expires: c.Expiry.Unix()}
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// cors lets the listed origins call the API with a bearer token (no
// cookies, so no credentials).
func cors(origins []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if origin != "" && allowed[origin] {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.Header().Set("Access-Control-Expose-Headers", "WWW-Authenticate")
		}
		next.ServeHTTP(w, r)
	})
}
