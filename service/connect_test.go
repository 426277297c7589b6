package service_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shop/service"
)

func TestConnectCredentials(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const url = "http://connect:8083"
	tests := []struct {
		name               string
		c                  service.Connect
		wantUser, wantPass string
		wantErr            string // of Validate, then of Credentials
	}{
		{"None", service.Connect{URL: url}, "", "", ""},
		{"File", service.Connect{URL: url, Username: "shop", PasswordFile: file}, "shop", "s3cret", ""},
		{"Value", service.Connect{URL: url, Username: "shop", Password: "v"}, "shop", "v", ""},
		{"ErrNoPassword", service.Connect{URL: url, Username: "shop"}, "", "", "without CONNECT_PASSWORD_FILE"},
		{"ErrNoUser", service.Connect{URL: url, Password: "v"}, "", "", "without CONNECT_USERNAME"},
		{"ErrBoth", service.Connect{URL: url, Username: "shop", Password: "v", PasswordFile: file}, "", "", "both set"},
		{"ErrMissingFile", service.Connect{URL: url, Username: "shop", PasswordFile: filepath.Join(dir, "nope")}, "", "", "CONNECT_PASSWORD_FILE"},
		{"ErrEmptyFile", service.Connect{URL: url, Username: "shop", PasswordFile: empty}, "", "", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			var user, pass string
			if err == nil {
				user, pass, err = tt.c.Credentials()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || user != tt.wantUser || pass != tt.wantPass {
				t.Errorf("Credentials() = %q, %q, %v; want %q, %q", user, pass, err, tt.wantUser, tt.wantPass)
			}
		})
	}
}
