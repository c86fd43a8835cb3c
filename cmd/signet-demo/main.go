// Command signet-demo serves a small browser page, on its own origin, that
// signs in at a Signet issuer (refresh token in an HttpOnly cookie) and
// calls the two demo resource servers, each with an access token for its
// own resource. It is a demo:
// the issuer never serves it.
package main

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/signet-auth/signet/cmd/internal/httprun"
	"github.com/signet-auth/signet/cmd/internal/resource/shopapi"
	"github.com/signet-auth/signet/cmd/internal/resource/videoapi"
)

//go:embed web
var web embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2) // the flag package has said why
	case err != nil:
		fmt.Fprintln(os.Stderr, "signet-demo:", err)
		os.Exit(1)
	}
}

// errUsage is a command line that could not be parsed; the reason has been
// printed.
var errUsage = errors.New("usage")

// pageConfig is what the page reads from config.json.
type pageConfig struct {
	Issuer string `json:"issuer"`
	Shop   string `json:"shop"`
	Video  string `json:"video"`
	// The resource indicators the page asks tokens for, and the scopes.
	ShopResource  string `json:"shop_resource"`
	VideoResource string `json:"video_resource"`
	ShopScope     string `json:"shop_scope"`
	VideoScope    string `json:"video_scope"`
}

// run serves the page until ctx is done; ready, if not nil, receives the
// bound address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	fset := flag.NewFlagSet("signet-demo", flag.ContinueOnError)
	fset.SetOutput(stderr)
	addr := fset.String("addr", cmp.Or(getenv("ADDR"), "localhost:3000"), "listen address (env ADDR)")
	var cfg pageConfig
	fset.StringVar(&cfg.Issuer, "issuer", cmp.Or(getenv("ISSUER_URL"), "http://localhost:8080"), "issuer URL as the browser reaches it (env ISSUER_URL)")
	fset.StringVar(&cfg.Shop, "shop", cmp.Or(getenv("SHOP_URL"), "http://localhost:8081"), "shop API URL (env SHOP_URL)")
	fset.StringVar(&cfg.Video, "video", cmp.Or(getenv("VIDEO_URL"), "http://localhost:8082"), "video API URL (env VIDEO_URL)")
	fset.StringVar(&cfg.ShopResource, "shop-resource", cmp.Or(getenv("SHOP_RESOURCE"), shopapi.Resource), "shop API's resource indicator (env SHOP_RESOURCE)")
	fset.StringVar(&cfg.VideoResource, "video-resource", cmp.Or(getenv("VIDEO_RESOURCE"), videoapi.Resource), "video API's resource indicator (env VIDEO_RESOURCE)")
	cfg.ShopScope, cfg.VideoScope = shopapi.ScopeRead, videoapi.ScopeRead
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "signet-demo: unexpected argument %q\n", fset.Arg(0))
		return errUsage
	}
	static, _ := fs.Sub(web, "web")
	cfgJSON, _ := json.Marshal(cfg)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(cfgJSON)
	})
	mux.Handle("GET /", http.FileServerFS(static))
	// The issuer's links (SIGNET_SITE_URL + a path per flow) open the page,
	// which reads the token from the fragment.
	index, _ := fs.ReadFile(static, "index.html")
	for _, p := range []string{"/verify-email", "/reset-password", "/forgot-password", "/confirm-email", "/cancel-email-change"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
		})
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The page talks only to the configured issuer and APIs.
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' "+cfg.Issuer+" "+cfg.Shop+" "+cfg.Video+"; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// The browser sends the origin it was opened at, and the issuer
	// answers only the origins in SIGNET_CORS_ORIGINS: localhost and
	// 127.0.0.1 are different origins. Print the one to open and the
	// settings it needs.
	origin := pageOrigin(*addr, ln.Addr())
	log.Info("demo page: open this URL", "url", origin, "issuer", cfg.Issuer,
		"issuer_needs", "SIGNET_CORS_ORIGINS="+origin, "resource_servers_need", "ALLOWED_ORIGINS="+origin)
	switch allowed, err := issuerAllows(ctx, cfg.Issuer, origin); {
	case err != nil:
		log.Info("the issuer did not answer yet; start it with SIGNET_CORS_ORIGINS="+origin, "issuer", cfg.Issuer, "error", err)
	case !allowed:
		log.Warn("the issuer does not allow this page's origin: sign-in will fail; restart it with SIGNET_CORS_ORIGINS="+origin, "issuer", cfg.Issuer, "origin", origin)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}
	return httprun.Serve(ctx, hs, ln, 5*time.Second)
}

// pageOrigin is the origin to open the page at: the host as given in addr
// (a name stays a name), with the port actually bound. An empty or
// unspecified host (":3000", "0.0.0.0:3000") becomes localhost.
func pageOrigin(addr string, bound net.Addr) string {
	host, _, _ := net.SplitHostPort(addr)
	_, port, _ := net.SplitHostPort(bound.String())
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// issuerAllows asks the issuer, as a browser's CORS preflight would,
// whether a page at origin may sign in.
func issuerAllows(ctx context.Context, issuer, origin string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, strings.TrimRight(issuer, "/")+"/v1/signin", nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-signet-csrf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin") == origin, nil
}
