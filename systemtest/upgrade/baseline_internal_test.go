package upgrade

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReadBaseline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    *string // nil: no baseline file
		want    string
		wantErr bool
	}{
		{name: "NoFile", want: defaultBaseline},
		{name: "CommitOnly", file: ptr("0123abc\n"), want: "0123abc"},
		{name: "CommentsAndBlankLines", file: ptr("# the compatibility baseline\n\n  # moved when a release is cut\n0123abc  release 1\n"), want: "0123abc"},
		{name: "ErrNoCommit", file: ptr("# only a comment\n\n"), wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.file != nil {
				path := filepath.Join(root, baselineFile)
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := readBaseline(root)
			if (err != nil) != tc.wantErr {
				t.Fatalf("readBaseline: error %v, want error %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("readBaseline: got %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
