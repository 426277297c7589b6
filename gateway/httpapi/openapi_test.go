package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"shop/gateway/docs"
	"shop/orders"
	"shop/payments"
	"shop/proto/limits"
)

// The tests in this file hold the committed OpenAPI document (docs.JSON,
// generated from this package's annotations by swagger.sh) to the rules the
// code enforces: a client generated from the document, or a fuzzer reading
// it, must meet the same limits as the handlers. The fuzzer
// (systemtest/fuzz_test.go) checks the same against the running system.

// openAPI is the committed document, decoded.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(docs.JSON))
	dec.UseNumber() // 1000000000000, not 1e+12
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("docs.JSON: %v", err)
	}
	return doc
}

// lookup follows path, keys of objects separated by '/' (a key holding
// '/' is written with '~1', as in a JSON pointer), and fails the test when
// a key is missing.
func lookup(t *testing.T, doc any, path string) any {
	t.Helper()
	v := doc
	for _, k := range strings.Split(path, "/") {
		k = strings.ReplaceAll(k, "~1", "/")
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not inside an object", path, k)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("%s: no %q", path, k)
		}
	}
	return v
}

// param returns the parameter name of the operation method path.
func param(t *testing.T, doc any, method, path, name string) map[string]any {
	t.Helper()
	op := lookup(t, doc, "paths/"+strings.ReplaceAll(path, "/", "~1")+"/"+method)
	for _, p := range op.(map[string]any)["parameters"].([]any) {
		if p := p.(map[string]any); p["name"] == name {
			return p
		}
	}
	t.Fatalf("%s %s has no parameter %s", method, path, name)
	return nil
}

func TestOpenAPILimits(t *testing.T) {
	doc := openAPI(t)
	tests := []struct {
		name string
		got  any
		want int64
	}{
		{"TopUpAmountMin", lookup(t, doc, "definitions/TopUpRequest/properties/amount/minimum"), limits.MinAmount},
		{"TopUpAmountMax", lookup(t, doc, "definitions/TopUpRequest/properties/amount/maximum"), limits.MaxAmount},
		{"OrderAmountMin", lookup(t, doc, "definitions/CreateOrderRequest/properties/amount/minimum"), limits.MinAmount},
		{"OrderAmountMax", lookup(t, doc, "definitions/CreateOrderRequest/properties/amount/maximum"), limits.MaxAmount},
		{"OrderDescriptionMaxLength", lookup(t, doc, "definitions/CreateOrderRequest/properties/description/maxLength"), orders.MaxDescriptionRunes},
		{"ShownOrderAmountMax", lookup(t, doc, "definitions/Order/properties/amount/maximum"), limits.MaxAmount},
		{"ShownOrderDescriptionMaxLength", lookup(t, doc, "definitions/Order/properties/description/maxLength"), orders.MaxDescriptionRunes},
		{"BalanceMax", lookup(t, doc, "definitions/Account/properties/balance/maximum"), payments.MaxBalance},
		{"TopUpKeyMaxLength", param(t, doc, "post", "/api/v1/account/top-up", HeaderIdempotencyKey)["maxLength"], limits.MaxIdempotencyKeyLen},
		{"OrderKeyMaxLength", param(t, doc, "post", "/api/v1/orders", HeaderIdempotencyKey)["maxLength"], limits.MaxIdempotencyKeyLen},
		{"PageSizeMin", param(t, doc, "get", "/api/v1/orders", "limit")["minimum"], 1},
		{"PageSizeMax", param(t, doc, "get", "/api/v1/orders", "limit")["maximum"], orders.MaxListLimit},
		{"PageSizeDefault", param(t, doc, "get", "/api/v1/orders", "limit")["default"], orders.DefaultListLimit},
		{"PageTokenMaxLength", param(t, doc, "get", "/api/v1/orders", "page_token")["maxLength"], MaxPageTokenLen},
		{"NextPageTokenMaxLength", lookup(t, doc, "definitions/OrderList/properties/next_page_token/maxLength"), MaxPageTokenLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(tt.got); got != fmt.Sprint(tt.want) {
				t.Errorf("document says %s, code enforces %d", got, tt.want)
			}
		})
	}
}

// TestOpenAPIPatterns checks each documented pattern against the code that
// enforces it, on values either side of the rule: the pattern accepts
// exactly what the code accepts.
func TestOpenAPIPatterns(t *testing.T) {
	doc := openAPI(t)
	tests := []struct {
		name    string
		pattern any
		accepts func(string) bool
		samples []string
	}{
		{
			name:    "IdempotencyKey",
			pattern: param(t, doc, "post", "/api/v1/orders", HeaderIdempotencyKey)["pattern"],
			accepts: func(s string) bool { return limits.IdempotencyKey(s) == nil },
			// No surrounding spaces: HTTP drops them before the code sees
			// the key.
			samples: []string{"a", "key-1", "a b", "~!", "", "a\tb", "é", "a\x00b", "a\x7fb"},
		},
		{
			name:    "PageToken",
			pattern: param(t, doc, "get", "/api/v1/orders", "page_token")["pattern"],
			accepts: func(s string) bool {
				_, err := pageToken(httptest.NewRequest(http.MethodGet, "/?page_token="+url.QueryEscape(s), nil))
				return err == nil
			},
			samples: []string{"", "AgAB-_z9", "a=", "a+b", "a/b", "a b", "é"},
		},
		{
			name:    "OrderID",
			pattern: param(t, doc, "get", "/api/v1/orders/{id}", "id")["pattern"],
			accepts: func(s string) bool { _, err := parseOrderID(s); return err == nil },
			samples: []string{
				"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "0193E0B4-8C7A-7E2A-9A53-2F6B0C1D2E3F",
				"0193e0b48c7a7e2a9a532f6b0c1d2e3f", "{0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f}",
				"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3g", "urn:uuid:0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", "",
			},
		},
		{
			name:    "Description",
			pattern: lookup(t, doc, "definitions/CreateOrderRequest/properties/description/pattern"),
			accepts: func(s string) bool { return orders.CheckDescription(s) == nil },
			samples: []string{"", "two coffees", "кофе ☕", "a\x00b", "\x00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := tt.pattern.(string)
			if !ok {
				t.Fatalf("no pattern documented (got %v)", tt.pattern)
			}
			re, err := regexp.Compile(s)
			if err != nil {
				t.Fatalf("pattern %q: %v", s, err)
			}
			for _, v := range tt.samples {
				if doc, code := re.MatchString(v), tt.accepts(v); doc != code {
					t.Errorf("%q: pattern %s says %v, the code %v", v, s, doc, code)
				}
			}
		})
	}
}

// TestOpenAPIOperations checks that the document describes exactly the
// routes of the API, and that every /api/v1 operation states its security
// (either mode) and the answers any such request can get.
func TestOpenAPIOperations(t *testing.T) {
	doc := openAPI(t)
	paths := lookup(t, doc, "paths").(map[string]any)
	documented := map[string]bool{}
	for path, item := range paths {
		for method := range item.(map[string]any) {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	env := newTestEnv(t, time.Second)
	routed := map[string]bool{}
	for _, r := range env.handler.(*gin.Engine).Routes() {
		switch {
		case strings.HasPrefix(r.Path, "/swagger/"), r.Method == http.MethodHead:
			continue // the Swagger UI itself; HEAD beside a page's GET
		}
		// gin writes a path parameter as :id, the document as {id}.
		path := regexp.MustCompile(`:(\w+)`).ReplaceAllString(r.Path, "{$1}")
		routed[r.Method+" "+path] = true
	}
	for op := range routed {
		if !documented[op] {
			t.Errorf("route %s is not in the document", op)
		}
	}
	for op := range documented {
		if !routed[op] {
			t.Errorf("the document describes %s, which no route serves", op)
		}
	}

	for op := range documented {
		method, path, _ := strings.Cut(op, " ")
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		t.Run(op, func(t *testing.T) {
			o := lookup(t, doc, "paths/"+strings.ReplaceAll(path, "/", "~1")+"/"+strings.ToLower(method)).(map[string]any)
			var schemes []string
			for _, req := range o["security"].([]any) {
				for name := range req.(map[string]any) {
					schemes = append(schemes, name)
				}
			}
			slices.Sort(schemes)
			if want := []string{"BearerAuth", "UserID"}; !slices.Equal(schemes, want) {
				t.Errorf("security %v, want either of %v", schemes, want)
			}
			if _, ok := o["operationId"]; !ok {
				t.Error("no operationId (@ID)")
			}
			responses := o["responses"].(map[string]any)
			for _, code := range []string{"401", "413", "429", "500", "503"} {
				if _, ok := responses[code]; !ok {
					t.Errorf("response %s is not documented", code)
				}
			}
		})
	}
}

// TestOpenAPIErrorCodes checks that the document lists every error code
// the gateway sends.
func TestOpenAPIErrorCodes(t *testing.T) {
	var enum []string
	for _, c := range lookup(t, openAPI(t), "definitions/ErrorBody/properties/code/enum").([]any) {
		enum = append(enum, c.(string))
	}
	for _, code := range []string{
		CodeInvalidArgument, CodeUnauthenticated, CodeNotFound, CodeMethodNotAllowed, CodeAccountExists,
		CodeIdempotencyKeyInUse, CodeIdempotencyKeyReused, CodeBalanceLimitExceeded, CodePayloadTooLarge,
		CodeResourceExhausted, CodeUnavailable, CodeInternal,
	} {
		if !slices.Contains(enum, code) {
			t.Errorf("error code %s is not in the document's enum %v", code, enum)
		}
	}
}
