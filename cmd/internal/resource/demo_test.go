package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-auth/signet/cmd/internal/resource"
	"github.com/signet-auth/signet/cmd/internal/resource/shopapi"
	"github.com/signet-auth/signet/cmd/internal/resource/videoapi"
	"github.com/signet-auth/signet/cmd/internal/testissuer"
	"github.com/signet-auth/signet/issuer/store/storetest"
	"github.com/signet-auth/signet/verifier"
)

// demo is the issuer with the demo registry (deploy/registry.json),
// video-api and shop-api, each on its own 127.0.0.1 port.
type demo struct {
	iss         *testissuer.Issuer
	shop, video string
	shopKey     string // shop-api's key file
}

func startDemo(t *testing.T, dialect string) demo {
	t.Helper()
	shopAddr := testissuer.FreeAddr(t)
	iss := testissuer.StartWith(t, testissuer.Options{Dialect: dialect, Registry: testissuer.DemoRegistry(t, "http://"+shopAddr)})
	video := testissuer.RunServer(t, videoapi.Server(), iss.URL, "")
	key := filepath.Join(t.TempDir(), "shop-api.key")
	shop := testissuer.RunServer(t, shopapi.Server(), iss.URL, shopAddr, "--key-file", key, "--video-url", video)
	return demo{iss: iss, shop: shop, video: video, shopKey: key}
}

// TestTwoResourceServers runs the demo on each store: tokens are bound to
// one resource (the other server and the verifier refuse them with
// wrong_audience), routes require their scopes (403 insufficient_scope
// with the scope in WWW-Authenticate), and shop-api calls video-api for
// the user through token exchange, with its own key, toward video-api
// only.
func TestTwoResourceServers(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			d := startDemo(t, dialect)
			ctx := context.Background()
			const ann = "ann@example.com"
			d.iss.SignUp(ann)
			shopTok := d.iss.Token(ann, shopapi.Resource, "orders:read orders:write") // no clerk role: orders:read only
			videoTok := d.iss.Token(ann, videoapi.Resource, "videos:read")

			t.Run("a token for one resource is refused by the other", func(t *testing.T) {
				for _, c := range []struct{ name, url, token string }{
					{"shop token at video-api", d.video + "/api/videos", shopTok},
					{"shop token at video-api /api/me", d.video + "/api/me", shopTok},
					{"video token at shop-api", d.shop + "/api/orders", videoTok},
				} {
					status, h, body := get(t, c.url, c.token)
					if status != http.StatusUnauthorized || body["kind"] != "wrong_audience" || body["error"] != "invalid_token" ||
						!strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s: %d %v, want 401 wrong_audience", c.name, status, body)
					}
				}
				// Each at its own server: accepted.
				if status, _, body := get(t, d.shop+"/api/orders", shopTok); status != http.StatusOK {
					t.Errorf("shop token at shop-api: %d %v", status, body)
				}
				if status, _, body := get(t, d.video+"/api/videos", videoTok); status != http.StatusOK || body["acting_party"] != nil {
					t.Errorf("video token at video-api: %d %v", status, body)
				}
				// The verifier itself, configured for video-api.
				v, err := verifier.New(ctx, verifier.Config{Issuer: d.iss.URL, Audience: videoapi.Resource})
				if err != nil {
					t.Fatal(err)
				}
				defer v.Close()
				if _, err := v.Verify(ctx, shopTok); !errors.Is(err, verifier.ErrWrongAudience) || verifier.ErrorKind(err) != "wrong_audience" {
					t.Errorf("verifier, shop token for video-api: %v", err)
				}
				if c, err := v.Verify(ctx, videoTok); err != nil || c.Scope != "videos:read" {
					t.Errorf("verifier, video token: %v %+v", err, c)
				}
			})

			t.Run("a route refuses a token without its scope", func(t *testing.T) {
				noScope := d.iss.Token(ann, shopapi.Resource, "")
				noVideoScope := d.iss.Token(ann, videoapi.Resource, "")
				for _, c := range []struct{ name, method, url, token, scope string }{
					{"GET /api/orders without orders:read", "GET", d.shop + "/api/orders", noScope, "orders:read"},
					{"GET /api/overview without orders:read", "GET", d.shop + "/api/overview", noScope, "orders:read"},
					{"POST /api/orders without orders:write", "POST", d.shop + "/api/orders", shopTok, "orders:write"},
					{"GET /api/videos without videos:read", "GET", d.video + "/api/videos", noVideoScope, "videos:read"},
				} {
					status, h, body := do(t, c.method, c.url, c.token)
					challenge := h.Get("WWW-Authenticate")
					if status != http.StatusForbidden || body["error"] != "insufficient_scope" ||
						!strings.HasPrefix(challenge, "Bearer ") || !strings.Contains(challenge, `scope="`+c.scope+`"`) ||
						!strings.Contains(challenge, `error="insufficient_scope"`) {
						t.Errorf("%s: %d %v %q, want 403 insufficient_scope naming %s", c.name, status, body, challenge, c.scope)
					}
				}
				// The route without a scope requirement takes the token.
				if status, _, body := get(t, d.shop+"/api/me", noScope); status != http.StatusOK || body["email"] != ann {
					t.Errorf("GET /api/me: %d %v", status, body)
				}
				// The clerk role grants orders:write (the registry's role_scopes).
				d.iss.AddRole(ann, "clerk")
				clerk := d.iss.Token(ann, shopapi.Resource, "orders:read orders:write")
				if status, _, body := do(t, "POST", d.shop+"/api/orders", clerk); status != http.StatusCreated {
					t.Errorf("POST /api/orders as a clerk: %d %v", status, body)
				}
			})

			t.Run("shop-api calls video-api through token exchange", func(t *testing.T) {
				status, _, body := get(t, d.shop+"/api/overview", shopTok)
				if status != http.StatusOK {
					t.Fatalf("overview: %d %v", status, body)
				}
				answer, _ := body["video_answer"].(map[string]any)
				if body["video_scope"] != "videos:read" || answer["acting_party"] != "shop-api" || answer["viewer"] != body["customer"] ||
					answer["client_id"] != "shop-api" || answer["scope"] != "videos:read" || answer["videos"] == nil || body["orders"] == nil {
					t.Fatalf("overview: %v", body)
				}
				// shop-api publishes only the public half of its key.
				_, _, jwks := get(t, d.shop+"/.well-known/jwks.json", "")
				keys, _ := jwks["keys"].([]any)
				if len(keys) != 1 || keys[0].(map[string]any)["d"] != nil || keys[0].(map[string]any)["kty"] != "OKP" {
					t.Fatalf("shop-api jwks: %v", jwks)
				}
			})

			t.Run("the exchange goes only where the registry lets shop-api act", func(t *testing.T) {
				key, created, err := resource.LoadOrCreateClientKey(d.shopKey)
				if err != nil || created {
					t.Fatalf("shop-api's key: %v (created %v)", err, created)
				}
				ex := &resource.Exchanger{Issuer: d.iss.URL, ClientID: "shop-api", Key: key}
				tok, err := ex.Exchange(ctx, shopTok, videoapi.Resource, "videos:read")
				if err != nil || tok.Scope != "videos:read" {
					t.Fatalf("exchange toward video-api: %v %+v", err, tok)
				}
				refused := []struct {
					name, subject, resource, scope string
					status                         int
					code                           string
				}{
					{"toward its own resource", shopTok, shopapi.Resource, "orders:read", 400, "invalid_target"},
					{"toward an unregistered resource", shopTok, "https://billing.example", "", 400, "invalid_target"},
					{"a scope video-api does not define", shopTok, videoapi.Resource, "orders:read", 400, "invalid_scope"},
					{"a subject token that is not shop-api's", videoTok, videoapi.Resource, "videos:read", 400, "invalid_grant"},
					{"a forged subject token", shopTok[:len(shopTok)-4] + "AAAA", videoapi.Resource, "videos:read", 400, "invalid_grant"},
				}
				for _, c := range refused {
					_, err := ex.Exchange(ctx, c.subject, c.resource, c.scope)
					var ee *resource.ExchangeError
					if !errors.As(err, &ee) || ee.Status != c.status || ee.Code != c.code {
						t.Errorf("%s: %v, want %d %s", c.name, err, c.status, c.code)
					}
				}
				// Someone with another key, claiming to be shop-api.
				other := filepath.Join(t.TempDir(), "other.key")
				otherKey, _, err := resource.LoadOrCreateClientKey(other)
				if err != nil {
					t.Fatal(err)
				}
				impostor := &resource.Exchanger{Issuer: d.iss.URL, ClientID: "shop-api", Key: otherKey}
				_, err = impostor.Exchange(ctx, shopTok, videoapi.Resource, "videos:read")
				var ee *resource.ExchangeError
				if !errors.As(err, &ee) || ee.Status != http.StatusUnauthorized || ee.Code != "invalid_client" {
					t.Errorf("another key claiming shop-api: %v, want 401 invalid_client", err)
				}
			})
		})
	}
}

func do(t *testing.T, method, url, token string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, resp.Header, body
}
