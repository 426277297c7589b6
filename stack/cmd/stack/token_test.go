package main

import (
	"bytes"
	"strings"
	"testing"

	"shop/stack/devissuer"
	"shop/stack/local"
)

func TestToken(t *testing.T) {
	dir := t.TempDir()
	cfg := config{DataDir: dir}
	var out bytes.Buffer
	if code, err := token(cfg, []string{"alice"}, &out); code != 1 || err == nil || !strings.Contains(err.Error(), "make run") {
		t.Fatalf("token before any run = %d, %v; want 1 and a hint to start the shop", code, err)
	}
	key, _, _, err := devissuer.Ensure(local.DevIssuerDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
	}{
		{"OK", []string{"alice"}, 0},
		{"OKTTL", []string{"-ttl", "5m", "alice"}, 0},
		{"ErrNoUser", nil, 2},
		{"ErrTwoUsers", []string{"alice", "bob"}, 2},
		{"ErrBadUser", []string{"al ice"}, 2},
		{"ErrTTL", []string{"-ttl", "48h", "alice"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out.Reset()
			code, err := token(cfg, tt.args, &out)
			if code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			if tt.code != 0 {
				return
			}
			tok := strings.TrimSpace(out.String())
			if strings.Count(tok, ".") != 2 || !strings.Contains(out.String(), "\n") {
				t.Errorf("printed %q, want one JWT line", out.String())
			}
			want, err := key.Token(devissuer.Claims{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Split(tok, ".")[0] != strings.Split(want, ".")[0] {
				t.Errorf("header of %q differs from the issuer's (another kid?)", tok)
			}
		})
	}
}

func TestLoadConfigAuthMode(t *testing.T) {
	for _, tt := range []struct {
		env     map[string]string
		want    string
		wantErr bool
	}{
		{env: nil, want: "jwt"},
		{env: map[string]string{"AUTH_MODE": "header"}, want: "header"},
		{env: map[string]string{"AUTH_MODE": "none"}, wantErr: true},
	} {
		c, err := loadConfig(t.Context(), envOf(tt.env))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "AUTH_MODE") {
				t.Errorf("%v: err %v, want one naming AUTH_MODE", tt.env, err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Auth.Mode != tt.want || c.system(true).AuthMode != tt.want {
			t.Errorf("%v: mode %q (system %q), want %q", tt.env, c.Auth.Mode, c.system(true).AuthMode, tt.want)
		}
	}
}
