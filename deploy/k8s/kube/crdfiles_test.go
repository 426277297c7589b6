package kube

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDiffCRDs(t *testing.T) {
	generated := map[string]string{"keda/a.yaml": "a", "strimzi/b.yaml": "b"}
	tests := []struct {
		name      string
		committed map[string]string
		want      []string
	}{
		{"Fresh", map[string]string{"keda/a.yaml": "a", "strimzi/b.yaml": "b"}, nil},
		{"EditedByHand", map[string]string{"keda/a.yaml": "a", "strimzi/b.yaml": "b edited"},
			[]string{"differs from the generated one: strimzi/b.yaml"}},
		{"Missing", map[string]string{"keda/a.yaml": "a"}, []string{"missing: strimzi/b.yaml"}},
		{"LeftOver", map[string]string{"keda/a.yaml": "a", "strimzi/b.yaml": "b", "keda/old.yaml": "x"},
			[]string{"not generated: keda/old.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gen, root := t.TempDir(), t.TempDir()
			writeTree(t, gen, generated)
			writeTree(t, filepath.Join(root, CRDsDir), tt.committed)
			got, err := DiffCRDs(gen, root)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			// WriteCRDs makes it fresh.
			if _, err := WriteCRDs(gen, root); err != nil {
				t.Fatal(err)
			}
			if got, _ := DiffCRDs(gen, root); len(got) != 0 {
				t.Errorf("after WriteCRDs: %q", got)
			}
		})
	}
}
