package app

import (
	"context"
	"log/slog"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shop/service"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "HeaderDefaults", env: header(nil), want: headerConfig()},
		{name: "EmptyMeansDefault", env: header(map[string]string{"GATEWAY_HTTP_ADDR": "", "LOG_LEVEL": ""}), want: headerConfig()},
		{
			name: "All",
			env: header(map[string]string{
				"GATEWAY_HTTP_ADDR": "127.0.0.1:0", "ORDERS_GRPC_ADDR": "orders:1", "PAYMENTS_GRPC_ADDR": "payments:2",
				"GATEWAY_BACKEND_TIMEOUT": "250ms", "LOG_LEVEL": "debug",
			}),
			want: func() Config {
				c := headerConfig()
				c.HTTPAddr, c.Orders.GRPCAddr, c.Payments.GRPCAddr = "127.0.0.1:0", "orders:1", "payments:2"
				c.BackendTimeout, c.Process.LogLevel = 250*time.Millisecond, slog.LevelDebug
				return c
			}(),
		},
		{name: "OKTargetURI", env: header(map[string]string{"ORDERS_GRPC_ADDR": "dns:///orders:9101"}), want: func() Config {
			c := headerConfig()
			c.Orders.GRPCAddr = "dns:///orders:9101"
			return c
		}()},
		{name: "ErrTimeoutSyntax", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "3"}, wantErr: "GATEWAY_BACKEND_TIMEOUT"},
		{name: "ErrTimeoutZero", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "0s"}, wantErr: "GATEWAY_BACKEND_TIMEOUT must be positive"},
		{name: "ErrTimeoutNegative", env: map[string]string{"GATEWAY_BACKEND_TIMEOUT": "-1s"}, wantErr: "GATEWAY_BACKEND_TIMEOUT must be positive"},
		{name: "ErrLogLevel", env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: "LOG_LEVEL"},
		{name: "ErrHTTPAddr", env: map[string]string{"GATEWAY_HTTP_ADDR": "8080"}, wantErr: "GATEWAY_HTTP_ADDR"},
		{name: "ErrOrdersAddr", env: map[string]string{"ORDERS_GRPC_ADDR": "orders"}, wantErr: "ORDERS_GRPC_ADDR"},
		{name: "ErrPaymentsAddrNoPort", env: map[string]string{"PAYMENTS_GRPC_ADDR": "payments:"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrPaymentsAddrBadPort", env: map[string]string{"PAYMENTS_GRPC_ADDR": "payments:http"}, wantErr: "PAYMENTS_GRPC_ADDR"},
		{name: "ErrHTTPPortRange", env: map[string]string{"GATEWAY_HTTP_ADDR": ":70000"}, wantErr: "GATEWAY_HTTP_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(context.Background(), envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(Config{}, "Ready")); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultConfigMatchesContract(t *testing.T) {
	c := DefaultConfig()
	if c.HTTPAddr != "127.0.0.1:8080" || c.Orders.GRPCAddr != "127.0.0.1:9101" || c.Payments.GRPCAddr != "127.0.0.1:9102" || c.BackendTimeout != 3*time.Second || c.Process.LogLevel != slog.LevelInfo {
		t.Errorf("defaults %+v differ from docs/configuration.md", c)
	}
	if c.Auth.Mode != service.AuthJWT || c.Auth.Leeway != 30*time.Second {
		t.Errorf("auth mode %q, leeway %s; want jwt, 30s (docs/configuration.md)", c.Auth.Mode, c.Auth.Leeway)
	}
	// The per-identity rate limit is on unless turned off (docs/security.md).
	if c.RateLimit != 5 || c.RateBurst != 20 {
		t.Errorf("rate limit %v/s, burst %d; want 5/s, burst 20 (docs/security.md)", c.RateLimit, c.RateBurst)
	}
	// jwt mode needs a key source: the defaults alone are refused, header
	// mode is complete.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "AUTH_JWKS_URL or AUTH_JWKS_FILE") {
		t.Errorf("defaults validate with %v, want the missing key source named", err)
	}
	// Neither TLS files nor GRPC_INSECURE=true: refused too.
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE, GRPC_TLS_CA_FILE (or GRPC_INSECURE=true") {
		t.Errorf("defaults validate with %v, want the missing TLS files named", err)
	}
	h := headerConfig()
	if err := h.Validate(); err != nil {
		t.Errorf("defaults in header mode, plaintext, do not validate: %v", err)
	}
}

// header adds AUTH_MODE=header and GRPC_INSECURE=true to env.
func header(env map[string]string) map[string]string {
	out := map[string]string{"AUTH_MODE": "header", "GRPC_INSECURE": "true"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// headerConfig is DefaultConfig in header mode, dialing in plaintext:
// complete without keys or certificates.
func headerConfig() Config {
	c := DefaultConfig()
	c.Auth.Mode = service.AuthHeader
	c.GRPC.Insecure = true
	return c
}

func TestLoadAuthConfig(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	secret := strings.Repeat("s", 32)
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, a Auth)
		wantErr string
	}{
		{name: "ErrJWTWithoutKeys", env: nil, wantErr: "AUTH_MODE=jwt needs the keys that sign the tokens"},
		{name: "ErrJWTWithoutClaims", env: map[string]string{"AUTH_JWKS_FILE": jwks}, wantErr: "AUTH_ISSUER and AUTH_AUDIENCE"},
		{name: "OKFile", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_LEEWAY": "5s"},
			check: func(t *testing.T, a Auth) {
				if a.Mode != "jwt" || a.JWKSFile != jwks || a.Issuer != "i" || a.Audience != "a" || a.Leeway != 5*time.Second {
					t.Errorf("auth %+v: not the environment's", a)
				}
			}},
		{name: "OKURL", env: map[string]string{"AUTH_JWKS_URL": "https://issuer.example/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}},
		{name: "OKSecret", env: map[string]string{"AUTH_HS256_SECRET": secret, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}},
		{name: "ErrShortSecret", env: map[string]string{"AUTH_HS256_SECRET": "short", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, wantErr: "AUTH_HS256_SECRET must be at least 32 bytes"},
		{name: "ErrBothSources", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_JWKS_URL": "https://i/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, wantErr: "both set"},
		{name: "ErrURL", env: map[string]string{"AUTH_JWKS_URL": "file:///etc/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, wantErr: "want an http(s) URL"},
		{name: "ErrURLPlainHTTP", env: map[string]string{"AUTH_JWKS_URL": "http://issuer.example/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, wantErr: "must be fetched over https"},
		{name: "ErrURLPlainHTTPAllInterfaces", env: map[string]string{"AUTH_JWKS_URL": "http://0.0.0.0:8081/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}, wantErr: "must be fetched over https"},
		{name: "OKURLHTTPLocalhost", env: map[string]string{"AUTH_JWKS_URL": "http://localhost:8081/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}},
		{name: "OKURLHTTPLoopbackV4", env: map[string]string{"AUTH_JWKS_URL": "http://127.0.0.2:8081/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}},
		{name: "OKURLHTTPLoopbackV6", env: map[string]string{"AUTH_JWKS_URL": "http://[::1]:8081/jwks", "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a"}},
		{name: "OKMaxTokenLifetime", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_MAX_TOKEN_LIFETIME": "2h"},
			check: func(t *testing.T, a Auth) {
				if a.MaxTokenLifetime != 2*time.Hour {
					t.Errorf("MaxTokenLifetime %s, want 2h", a.MaxTokenLifetime)
				}
			}},
		{name: "ErrMaxTokenLifetime", env: map[string]string{"AUTH_MODE": "header", "AUTH_MAX_TOKEN_LIFETIME": "-1s"}, wantErr: "AUTH_MAX_TOKEN_LIFETIME must be positive"},
		{name: "ErrDevTTLBeyondMaxLifetime", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_DEV_ISSUER_KEY": "/k.pem", "AUTH_MAX_TOKEN_LIFETIME": "30m"}, wantErr: "exceeds AUTH_MAX_TOKEN_LIFETIME"},
		{name: "OKDevIssuerOnLoopback", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_DEV_ISSUER_KEY": "/k.pem", "GATEWAY_HTTP_ADDR": "localhost:8080"}},
		{name: "ErrDevIssuerAllInterfaces", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_DEV_ISSUER_KEY": "/k.pem", "GATEWAY_HTTP_ADDR": "0.0.0.0:8080"}, wantErr: "not a loopback address"},
		{name: "ErrDevIssuerEmptyHost", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_DEV_ISSUER_KEY": "/k.pem", "GATEWAY_HTTP_ADDR": ":8080"}, wantErr: "not a loopback address"},
		{name: "ErrDevIssuerPublicIP", env: map[string]string{"AUTH_JWKS_FILE": jwks, "AUTH_ISSUER": "i", "AUTH_AUDIENCE": "a", "AUTH_DEV_ISSUER_KEY": "/k.pem", "GATEWAY_HTTP_ADDR": "10.1.2.3:8080"}, wantErr: "not a loopback address"},
		{name: "ErrMode", env: map[string]string{"AUTH_MODE": "none"}, wantErr: `AUTH_MODE="none"`},
		{name: "ErrLeeway", env: map[string]string{"AUTH_MODE": "header", "AUTH_LEEWAY": "1h"}, wantErr: "AUTH_LEEWAY"},
		{name: "ErrDevIssuerInHeaderMode", env: map[string]string{"AUTH_MODE": "header", "AUTH_DEV_ISSUER_KEY": "/k.pem"}, wantErr: "AUTH_DEV_ISSUER_KEY needs AUTH_MODE=jwt"},
		{name: "OKHeaderIgnoresJWTSettings", env: map[string]string{"AUTH_MODE": "header"}},
		{name: "OKRateLimit", env: map[string]string{"AUTH_MODE": "header", "GATEWAY_RATE_LIMIT": "2.5", "GATEWAY_RATE_BURST": "3"}},
		{name: "ErrRateLimit", env: map[string]string{"AUTH_MODE": "header", "GATEWAY_RATE_LIMIT": "-1"}, wantErr: "GATEWAY_RATE_LIMIT"},
		{name: "ErrRateBurst", env: map[string]string{"AUTH_MODE": "header", "GATEWAY_RATE_BURST": "0"}, wantErr: "GATEWAY_RATE_BURST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{"GRPC_INSECURE": "true"}
			maps.Copy(vars, tt.env)
			c, err := LoadConfig(context.Background(), envOf(vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c.Auth)
			}
		})
	}
}
