package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"found", "Name:\tgateway\nVmPeak:\t  900 kB\nVmRSS:\t   34816 kB\nThreads:\t9\n", 34816 * 1024, false},
		{"missing", "Name:\tkthreadd\n", 0, true},
		{"bad unit", "VmRSS:\t 12 MB\n", 0, true},
		{"bad number", "VmRSS:\t x kB\n", 0, true},
		{"no process", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.status != "" {
				if err := os.Mkdir(filepath.Join(dir, "7"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "7", "status"), []byte(tt.status), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readVmRSS(dir, 7)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
