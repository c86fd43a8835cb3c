package httpapi_test

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// openAPIFile is the API description at the repository root.
const openAPIFile = "../../openapi.json"

var openAPIMethods = []string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}

// openAPIOperations returns "METHOD /path" for every operation in the
// OpenAPI document, and the document itself.
func openAPIOperations(t *testing.T) ([]string, map[string]any) {
	t.Helper()
	raw, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not valid JSON: %v", openAPIFile, err)
	}
	paths, _ := doc["paths"].(map[string]any)
	var ops []string
	for path, item := range paths {
		for key := range item.(map[string]any) {
			if m := strings.ToUpper(key); slices.Contains(openAPIMethods, m) {
				ops = append(ops, m+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops, doc
}

// openAPIRouteRE and openAPIGroupRE read routes.go when the handler is not
// a Gin engine: `v1 := r.Group("/v1", ...)` and `v1.POST("/signup", ...)`.
var (
	openAPIRouteRE = regexp.MustCompile(`(\w+)\.(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS)\("([^"]+)"`)
	openAPIGroupRE = regexp.MustCompile(`(\w+) := \w+\.Group\("([^"]*)"`)
)

// openAPIServedRoutes returns "METHOD /path" for every route the server
// serves: from the Gin engine when the handler is one, else from routes.go.
func openAPIServedRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	var routes []string
	if engine, ok := h.(*gin.Engine); ok {
		for _, r := range engine.Routes() {
			routes = append(routes, r.Method+" "+r.Path)
		}
	} else {
		src, err := os.ReadFile("routes.go")
		if err != nil {
			t.Fatal(err)
		}
		prefix := map[string]string{}
		for _, m := range openAPIGroupRE.FindAllStringSubmatch(string(src), -1) {
			prefix[m[1]] = m[2]
		}
		for _, m := range openAPIRouteRE.FindAllStringSubmatch(string(src), -1) {
			routes = append(routes, m[2]+" "+prefix[m[1]]+m[3])
		}
	}
	slices.Sort(routes)
	return slices.Compact(routes)
}

// TestOpenAPIMatchesRoutes keeps openapi.json and the server in step: the
// document lists exactly the routes served, and each of them answers.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	documented, doc := openAPIOperations(t)
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	e := newEnv(t, storetest.Open(t, store.SQLite))
	served := openAPIServedRoutes(t, e.server.Handler())
	if len(served) == 0 {
		t.Fatal("found no routes")
	}
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is not in %s", op, openAPIFile)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("%s documents %s, which the server does not route", openAPIFile, op)
		}
	}

	// Each documented operation reaches a handler: no 404 not_found or
	// 405 method_not_allowed (the bodiless request may fail otherwise).
	for _, op := range documented {
		method, path, _ := strings.Cut(op, " ")
		resp, body := e.do(method, path, nil)
		var eb struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &eb)
		if eb.Error == "not_found" || eb.Error == "method_not_allowed" ||
			resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s: %d %s", op, resp.StatusCode, body)
		}
	}
}

// TestOpenAPIRefsResolve checks that every local $ref in openapi.json
// names something in the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	_, doc := openAPIOperations(t)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if _, found := resolveOpenAPIRef(doc, ref); !found {
					t.Errorf("unresolved $ref %q", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// resolveOpenAPIRef follows a local JSON pointer ("#/components/schemas/User").
func resolveOpenAPIRef(doc map[string]any, ref string) (any, bool) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(rest, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}
