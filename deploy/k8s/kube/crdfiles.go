package kube

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// DiffCRDs compares the generated CRDs (GenerateCRDs' directory) with the
// committed ones under root's CRDsDir and describes each difference: a
// file missing, left over, or different. None means fresh.
func DiffCRDs(generated, root string) ([]string, error) {
	want, err := yamlFiles(generated)
	if err != nil {
		return nil, err
	}
	have, err := yamlFiles(filepath.Join(root, CRDsDir))
	if err != nil {
		return nil, err
	}
	var diffs []string
	for _, f := range sortedKeys(want) {
		switch h, ok := have[f]; {
		case !ok:
			diffs = append(diffs, "missing: "+f)
		case !bytes.Equal(h, want[f]):
			diffs = append(diffs, "differs from the generated one: "+f)
		}
	}
	for _, f := range sortedKeys(have) {
		if _, ok := want[f]; !ok {
			diffs = append(diffs, "not generated: "+f)
		}
	}
	return diffs, nil
}

// WriteCRDs makes root's CRDsDir hold exactly the generated CRDs and
// returns how many files it wrote or removed.
func WriteCRDs(generated, root string) (int, error) {
	want, err := yamlFiles(generated)
	if err != nil {
		return 0, err
	}
	dst := filepath.Join(root, CRDsDir)
	have, err := yamlFiles(dst)
	if err != nil {
		return 0, err
	}
	changed := 0
	for f, b := range want {
		if bytes.Equal(have[f], b) {
			continue
		}
		p := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changed, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return changed, err
		}
		changed++
	}
	for f := range have {
		if _, ok := want[f]; !ok {
			if err := os.Remove(filepath.Join(dst, f)); err != nil {
				return changed, err
			}
			changed++
		}
	}
	return changed, nil
}

// yamlFiles reads dir/<operator>/*.yaml, keyed by "<operator>/<file>"; a
// missing dir is empty.
func yamlFiles(dir string) (map[string][]byte, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("read CRD: %w", err)
		}
		rel, _ := filepath.Rel(dir, n)
		files[filepath.ToSlash(rel)] = b
	}
	return files, nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
