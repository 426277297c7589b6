package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"shop/service"
	"shop/stack/devissuer"
	"shop/stack/stacktest"
)

// jwtConfig is a gateway in jwt mode verifying the development issuer's
// keys in dir, with its /dev/token when devTokens.
func jwtConfig(t *testing.T, devTokens bool) Config {
	t.Helper()
	_, keyPath, jwksPath, err := devissuer.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPC.Insecure = true
	cfg.Orders.GRPCAddr, cfg.Payments.GRPCAddr = stacktest.FreeAddr(t), stacktest.FreeAddr(t)
	cfg.BackendTimeout = time.Second
	cfg.Auth.JWKSFile, cfg.Auth.Issuer, cfg.Auth.Audience = jwksPath, devissuer.Issuer, devissuer.Audience
	if devTokens {
		cfg.Auth.DevIssuerKey = keyPath
	}
	return cfg
}

// POST /dev/token exists only with AUTH_DEV_ISSUER_KEY, and its token
// passes the gateway's verification (the backends are down: 503, not 401).
func TestRunDevTokens(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		base, _ := startGateway(t, jwtConfig(t, enabled))
		resp, err := http.Post(base+"/dev/token", "application/json", strings.NewReader(`{"user_id":"alice"}`))
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if !enabled {
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST /dev/token without AUTH_DEV_ISSUER_KEY = %d, want 404", resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != http.StatusOK || err != nil {
			t.Fatalf("POST /dev/token = %d (%v), want 200", resp.StatusCode, err)
		}
		req, err := http.NewRequest("GET", base+"/api/v1/account", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET /api/v1/account with the development token = %d, want 503 (authenticated, backends down)", resp.StatusCode)
		}
	}
}

func TestRunAuthErrors(t *testing.T) {
	foreign := jwtConfig(t, true)
	other := jwtConfig(t, false)
	foreign.Auth.JWKSFile = other.Auth.JWKSFile // a JWKS without the issuer's key
	missing := jwtConfig(t, false)
	missing.Auth.JWKSFile += ".missing"
	noKeys := DefaultConfig()
	noKeys.GRPC.Insecure = true
	public := jwtConfig(t, true)
	public.HTTPAddr = "0.0.0.0:0"
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"DevKeyNotInJWKS", foreign, "its tokens would be refused"},
		{"JWKSFileMissing", missing, "AUTH_JWKS_FILE"},
		{"JWTWithoutKeys", noKeys, "AUTH_JWKS_URL or AUTH_JWKS_FILE"},
		{"DevIssuerOnPublicBind", public, "GATEWAY_HTTP_ADDR \"0.0.0.0:0\" is not a loopback address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(context.Background(), tt.cfg, slog.New(slog.DiscardHandler))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Run = %v, want an error mentioning %q", err, tt.wantErr)
			}
		})
	}
	if noKeys.Auth.Mode != service.AuthJWT {
		t.Errorf("default mode %q, want jwt", noKeys.Auth.Mode)
	}
}
