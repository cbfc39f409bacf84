package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// openAPIDocument is the part of an OpenAPI document these tests read.
type openAPIDocument struct {
	OpenAPI string                                `json:"openapi"`
	Servers []struct{ URL string }                `json:"servers"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

var openAPIMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// apiOpenAPIServed fetches the document as clients do.
func apiOpenAPIServed(t *testing.T, n *testNode) (openAPIDocument, map[string]any) {
	t.Helper()
	rec := n.apiCall(t, http.MethodGet, "/api/v1/openapi.json", "", "")
	doc := apiRead[openAPIDocument](t, rec, http.StatusOK)
	var raw map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

func TestOpenAPIDeclares31(t *testing.T) {
	doc, _ := apiOpenAPIServed(t, newTestNode(t))
	if !regexp.MustCompile(`^3\.1\.\d+$`).MatchString(doc.OpenAPI) {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "/api/v1" {
		t.Errorf("servers = %+v, want /api/v1", doc.Servers)
	}
}

// TestOpenAPIMatchesRoutes keeps the document true to the router: every API
// route is documented, and every documented operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	n := newTestNode(t)
	doc, _ := apiOpenAPIServed(t, n)
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)

	routes := map[string]bool{}
	for _, r := range n.e.Routes() {
		m := strings.ToLower(r.Method)
		if !openAPIMethods[m] || !strings.HasPrefix(r.Path, "/api/v1/") {
			continue // the group's catch-all 404 routes, and everything outside the API
		}
		routes[strings.ToUpper(m)+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for m := range item {
			if openAPIMethods[m] {
				documented[strings.ToUpper(m)+" "+doc.Servers[0].URL+path] = true
			}
		}
	}
	if len(routes) == 0 {
		t.Fatal("no API routes registered")
	}
	for _, op := range apiSortedSet(routes) {
		if !documented[op] {
			t.Errorf("route %s is not in openapi.json", op)
		}
	}
	for _, op := range apiSortedSet(documented) {
		if !routes[op] {
			t.Errorf("openapi.json documents %s, which is no route", op)
		}
	}
}

// TestOpenAPIReferencesResolve checks every $ref points at something, and every
// path template's parameters are declared.
func TestOpenAPIReferencesResolve(t *testing.T) {
	_, raw := apiOpenAPIServed(t, newTestNode(t))
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok && apiResolvePointer(raw, ref) == nil {
				t.Errorf("$ref %q resolves to nothing", ref)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(raw)

	braces := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range raw["paths"].(map[string]any) {
		declared := map[string]bool{}
		for _, p := range apiAsList(item.(map[string]any)["parameters"]) {
			if p := apiResolveParam(raw, p); p["in"] == "path" {
				declared[p["name"].(string)] = true
			}
		}
		for _, m := range braces.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %q is not declared", path, m[1])
			}
		}
	}
}

func apiResolvePointer(doc map[string]any, ref string) any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(ref[2:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(part)]
	}
	return cur
}

func apiResolveParam(doc map[string]any, p any) map[string]any {
	m, _ := p.(map[string]any)
	if ref, ok := m["$ref"].(string); ok {
		m, _ = apiResolvePointer(doc, ref).(map[string]any)
	}
	return m
}

func apiAsList(v any) []any {
	l, _ := v.([]any)
	return l
}

func apiSortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
