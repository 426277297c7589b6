// Package web serves the shopper's page: one HTML document with its
// script modules and style sheet, embedded in the binary, and
// /config.json, which tells the page how the API establishes the caller.
// The page talks to the REST API of the same origin and follows the
// caller's orders through the status stream.
//
// Every response carries a strict Content-Security-Policy (only this
// origin's scripts, styles and connections; no inline script or style; no
// framing) and the usual security headers. The files are revalidated on
// every use (Cache-Control: no-cache) against an ETag of their content, so
// a new gateway binary never meets a stale script.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// How the API establishes the caller, as Config.Auth names it.
const (
	// AuthHeader: the X-User-ID header, trusted as it is.
	AuthHeader = "header"
	// AuthJWT: a bearer token in the Authorization header.
	AuthJWT = "jwt"
)

// Config is what the page learns from /config.json.
type Config struct {
	// Auth is AuthHeader or AuthJWT.
	Auth string `json:"auth"`
	// DevTokenPath is the path of the development token issuer (POST
	// {"user_id": "..."} returns a token), when it is enabled; empty
	// otherwise. Only with AuthJWT.
	DevTokenPath string `json:"dev_token_path,omitempty"`
}

// Validate reports a Config the page could not use.
func (c Config) Validate() error {
	switch c.Auth {
	case AuthHeader:
		if c.DevTokenPath != "" {
			return errors.New("web: a development token issuer needs auth mode jwt")
		}
	case AuthJWT:
		if c.DevTokenPath != "" && !strings.HasPrefix(c.DevTokenPath, "/") {
			return fmt.Errorf("web: development token path %q must start with /", c.DevTokenPath)
		}
	default:
		return fmt.Errorf("web: auth mode %q, want %q or %q", c.Auth, AuthHeader, AuthJWT)
	}
	return nil
}

// ContentSecurityPolicy is the policy of every response of the page. The
// page builds its DOM with textContent and createElement only, so it can
// also forbid the HTML-parsing DOM sinks (Trusted Types without a policy).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// securityHeaders are set on every response of the page.
var securityHeaders = map[string]string{
	"Content-Security-Policy":      ContentSecurityPolicy,
	"X-Content-Type-Options":       "nosniff",
	"X-Frame-Options":              "DENY",
	"Referrer-Policy":              "no-referrer",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
	"Permissions-Policy":           "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
	"Cache-Control":                "no-cache",
}

// file is one response of the page, prepared at start.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Page serves the shopper's page. It is safe for concurrent use.
type Page struct {
	files map[string]file
}

// New returns the page for cfg, or an error when cfg is invalid.
func New(cfg Config) (*Page, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Page{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(name)
		if err != nil {
			return err
		}
		urlPath := "/" + name // /static/app.js
		if name == "static/index.html" {
			urlPath = "/"
		}
		ctype, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("web: no content type for %s", name)
		}
		p.files[urlPath] = newFile(body, ctype)
		return nil
	})
	if err != nil {
		return nil, err
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	p.files["/config.json"] = newFile(conf, "application/json; charset=utf-8")
	return p, nil
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType,
		etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}
}

// Paths returns the URL paths the page serves, sorted: "/", "/config.json"
// and one under /static/ per asset. A router mounts exactly these, so that
// any other path gets the API's own 404.
func (p *Page) Paths() []string {
	paths := make([]string, 0, len(p.files))
	for k := range p.files {
		paths = append(paths, k)
	}
	slices.Sort(paths)
	return paths
}

// ServeHTTP answers GET and HEAD of one of Paths with the file and the
// security headers, 304 when the client's copy is current; 404 for any
// other path and 405 for any other method, in plain text.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range securityHeaders {
		h.Set(k, v)
	}
	f, ok := p.files[r.URL.Path]
	if !ok {
		http.Error(w, "no such file", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	// ServeContent answers If-None-Match with 304 and HEAD without a body.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
