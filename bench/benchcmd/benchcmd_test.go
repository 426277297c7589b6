package benchcmd

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ok", nil, 0},
		{"help", flag.ErrHelp, 2},
		{"wrapped help", fmt.Errorf("parse: %w", flag.ErrHelp), 2},
		{"error", errors.New("boom"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"set", "x", "x"},
		{"empty is unset", "", "def"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("BENCHCMD_TEST_VAR", tt.value)
			if got := Env("BENCHCMD_TEST_VAR", "def"); got != tt.want {
				t.Errorf("Env = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFindRoot(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.work"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"at the root", root, root},
		{"below it", deep, root},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := findRoot(tt.dir); err != nil || got != tt.want {
				t.Errorf("findRoot(%s) = %q, %v, want %q", tt.dir, got, err, tt.want)
			}
		})
	}
	if _, err := findRoot(string(filepath.Separator)); err == nil || !strings.Contains(err.Error(), "no go.work above") {
		t.Errorf("findRoot(/) error %v, want no go.work above", err)
	}
}
