package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPKICommand(t *testing.T) {
	dir := t.TempDir()
	cfg := config{DataDir: dir}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want []string // the programs it prints, each with files afterwards
	}{
		{"Defaults", nil, 0, []string{"gateway", "orders", "payments"}},
		{"Named", []string{"billing"}, 0, []string{"billing"}},
		{"ErrCA", []string{"ca"}, 2, nil},
		{"ErrPath", []string{"../x"}, 2, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := pkiCommand(cfg, tt.args, &out)
			if code != tt.code {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.code)
			}
			// shopctl makes no gRPC call: no certificate by default.
			if got := strings.Count(out.String(), "\n"); got != len(tt.want) {
				t.Errorf("output %q names %d programs, want %v", out.String(), got, tt.want)
			}
			for _, n := range tt.want {
				if !strings.Contains(out.String(), filepath.Join(dir, "pki", n, "tls.crt")) {
					t.Errorf("output %q lacks %s's certificate", out.String(), n)
				}
				if fi, err := os.Stat(filepath.Join(dir, "pki", n, "tls.key")); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s's key: %v, %v; want mode 0600", n, fi, err)
				}
			}
		})
	}
}
