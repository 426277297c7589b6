package httpapi

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

func TestRequestID(t *testing.T) {
	env := newTestEnv(t, time.Second)
	tests := []struct {
		name string
		r    req
		sent string
		echo bool
	}{
		{"EchoOnSuccess", req{method: "GET", path: "/healthz"}, "req-123", true},
		{"EchoOnUnauthenticated", req{method: "GET", path: "/api/v1/account"}, "0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", true},
		{"EchoOnNotFound", req{method: "GET", path: "/nope"}, "abc", true},
		{"EchoOnBadRequest", req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{`}, "abc", true},
		{"GeneratedWhenAbsent", req{method: "GET", path: "/healthz"}, "", false},
		{"GeneratedWhenInsane", req{method: "GET", path: "/healthz"}, "has spaces in it", false},
		{"GeneratedWhenTooLong", req{method: "GET", path: "/healthz"}, strings.Repeat("x", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if tt.sent != "" {
				r.headers = map[string]string{HeaderRequestID: tt.sent}
			}
			got := env.do(t, r).Header().Get(HeaderRequestID)
			if tt.echo {
				if got != tt.sent {
					t.Errorf("%s = %q, want %q", HeaderRequestID, got, tt.sent)
				}
				return
			}
			if _, err := uuid.Parse(got); err != nil || got == tt.sent {
				t.Errorf("%s = %q, want a generated UUID", HeaderRequestID, got)
			}
		})
	}
}

func TestValidRequestID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"x", true},
		{strings.Repeat("r", 128), true},
		{"", false},
		{strings.Repeat("r", 129), false},
		{"has space", false},
		{"new\nline", false},
		{"ü", false},
	}
	for _, tt := range tests {
		if got := validRequestID(tt.in); got != tt.want {
			t.Errorf("validRequestID(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, time.Second)
	big := `{"amount":1,"description":"` + strings.Repeat("a", MaxBodyBytes) + `"}`
	t.Run("DeclaredLength", func(t *testing.T) {
		wantError(t, env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: big}), 413, CodePayloadTooLarge)
	})
	t.Run("Chunked", func(t *testing.T) {
		hr := httptest.NewRequest("POST", "/api/v1/orders", io.MultiReader(strings.NewReader(big)))
		hr.ContentLength = -1
		hr.Header.Set(HeaderUserID, "alice")
		rec := httptest.NewRecorder()
		env.handler.ServeHTTP(rec, hr)
		wantError(t, rec, 413, CodePayloadTooLarge)
	})
	t.Run("JustUnderLimit", func(t *testing.T) {
		body := `{"amount":1,"description":"x"}`
		body += strings.Repeat(" ", MaxBodyBytes-len(body))
		rec := env.do(t, req{method: "POST", path: "/api/v1/orders", user: "alice", body: body})
		if rec.Code != 201 {
			t.Errorf("status = %d, want 201: %s", rec.Code, rec.Body)
		}
	})
	if n := env.orders.count("CreateOrder"); n != 1 {
		t.Errorf("CreateOrder calls = %d, want 1", n)
	}
}

func TestRecoverPanic(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(requestID(), recoverPanic(logger))
	r.GET("/boom", func(*gin.Context) { panic("secret state") })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	wantError(t, rec, 500, CodeInternal)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("500 body leaks the panic: %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "secret state") {
		t.Errorf("panic not logged: %s", logs)
	}
	if rec.Header().Get(HeaderRequestID) == "" {
		t.Error("500 has no request id")
	}
}
