package web

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"Header", Config{Auth: AuthHeader}, ""},
		{"JWT", Config{Auth: AuthJWT}, ""},
		{"JWTWithDevIssuer", Config{Auth: AuthJWT, DevTokenPath: "/dev/token"}, ""},
		{"ErrNoMode", Config{}, `auth mode ""`},
		{"ErrUnknownMode", Config{Auth: "cookie"}, `auth mode "cookie"`},
		{"ErrDevIssuerInHeaderMode", Config{Auth: AuthHeader, DevTokenPath: "/dev/token"}, "needs auth mode jwt"},
		{"ErrRelativeDevTokenPath", Config{Auth: AuthJWT, DevTokenPath: "dev/token"}, "must start with /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	p := mustNew(t, Config{Auth: AuthHeader})
	want := []string{"/", "/config.json", "/static/app.js", "/static/icon.svg", "/static/money.js", "/static/sse.js", "/static/style.css"}
	if diff := cmp.Diff(want, p.Paths()); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}
}

func TestServe(t *testing.T) {
	p := mustNew(t, Config{Auth: AuthJWT, DevTokenPath: "/dev/token"})
	index, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		header             map[string]string
		wantStatus         int
		wantType           string
		wantBody           string // "" with wantStatus 200: not checked
	}{
		{"Index", http.MethodGet, "/", nil, http.StatusOK, "text/html; charset=utf-8", string(index)},
		{"Script", http.MethodGet, "/static/app.js", nil, http.StatusOK, "text/javascript; charset=utf-8", ""},
		{"Module", http.MethodGet, "/static/sse.js", nil, http.StatusOK, "text/javascript; charset=utf-8", ""},
		{"Style", http.MethodGet, "/static/style.css", nil, http.StatusOK, "text/css; charset=utf-8", ""},
		{"Icon", http.MethodGet, "/static/icon.svg", nil, http.StatusOK, "image/svg+xml", ""},
		{"Config", http.MethodGet, "/config.json", nil, http.StatusOK, "application/json; charset=utf-8", `{"auth":"jwt","dev_token_path":"/dev/token"}`},
		{"Head", http.MethodHead, "/", nil, http.StatusOK, "text/html; charset=utf-8", ""},
		{"NotModified", http.MethodGet, "/", map[string]string{"If-None-Match": p.files["/"].etag}, http.StatusNotModified, "", ""},
		{"ModifiedWithOtherETag", http.MethodGet, "/", map[string]string{"If-None-Match": `"other"`}, http.StatusOK, "text/html; charset=utf-8", string(index)},
		{"ErrUnknownFile", http.MethodGet, "/static/nothing.js", nil, http.StatusNotFound, "text/plain; charset=utf-8", "no such file\n"},
		{"ErrIndexUnderStatic", http.MethodGet, "/static/index.html", nil, http.StatusNotFound, "text/plain; charset=utf-8", "no such file\n"},
		{"ErrMethod", http.MethodPost, "/", nil, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "method not allowed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			for k, v := range securityHeaders {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if got := rec.Header().Get("Content-Type"); tt.wantType != "" && got != tt.wantType {
				t.Errorf("Content-Type %q, want %q", got, tt.wantType)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if tt.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD body of %d bytes, want none", rec.Body.Len())
			}
			if tt.wantStatus == http.StatusOK && rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"Header", Config{Auth: AuthHeader}},
		{"JWT", Config{Auth: AuthJWT}},
		{"JWTWithDevIssuer", Config{Auth: AuthJWT, DevTokenPath: "/dev/token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mustNew(t, tt.cfg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config.json", nil))
			var got Config
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got != tt.cfg {
				t.Errorf("config.json %+v, want %+v", got, tt.cfg)
			}
		})
	}
}

// TestNothingInline holds the page to its Content-Security-Policy, which
// runs no inline script or style: every script is a file, no element has
// an event handler attribute or a style attribute, and the scripts never
// parse HTML (Trusted Types forbid it).
func TestNothingInline(t *testing.T) {
	index := readStatic(t, "index.html")
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(index, -1)
	if len(scripts) == 0 {
		t.Fatal("index.html has no script element")
	}
	for _, s := range scripts {
		if !strings.Contains(s[1], `src="/static/`) || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline script: %s", s[0])
		}
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)<style\b`),
		regexp.MustCompile(`(?i)\sstyle\s*=`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)javascript:`),
	} {
		if m := bad.FindString(index); m != "" {
			t.Errorf("index.html has %q, which the Content-Security-Policy blocks", m)
		}
	}
	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(`)
	for _, name := range scriptNames(t) {
		if m := sinks.FindString(readStatic(t, name)); m != "" {
			t.Errorf("%s uses %s, which the Content-Security-Policy blocks", name, m)
		}
	}
}

// TestReferences checks that every file index.html and the scripts refer
// to is served, and that every served asset is used.
func TestReferences(t *testing.T) {
	p := mustNew(t, Config{Auth: AuthHeader})
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(readStatic(t, "index.html"), -1) {
		used[m[1]] = true
	}
	for _, name := range scriptNames(t) {
		for _, m := range regexp.MustCompile(`from "\./([^"]+)"`).FindAllStringSubmatch(readStatic(t, name), -1) {
			used["/static/"+m[1]] = true
		}
	}
	paths := p.Paths()
	for ref := range used {
		if !slices.Contains(paths, ref) {
			t.Errorf("%s is referred to but not served", ref)
		}
	}
	for _, path := range paths {
		if strings.HasPrefix(path, "/static/") && !used[path] {
			t.Errorf("%s is served but never referred to", path)
		}
	}
}

func mustNew(t *testing.T, cfg Config) *Page {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readStatic(t *testing.T, name string) string {
	t.Helper()
	b, err := static.ReadFile("static/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func scriptNames(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(static, "static/*.js")
	if err != nil || len(names) == 0 {
		t.Fatalf("scripts: %v %v", names, err)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "static/")
	}
	return names
}
