package local

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The REST password is generated on the first start, kept across restarts,
// and every file holding it is owner-only, in an owner-only directory.
func TestRESTAuthIsGeneratedOnceAndOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	first, f, err := ensureRESTAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if first.Username != ConnectUser || len(first.Password) < 32 {
		t.Fatalf("credentials = %q / %d characters, want %q and a long password", first.Username, len(first.Password), ConnectUser)
	}
	again, _, err := ensureRESTAuth(dir)
	if err != nil || again != first {
		t.Fatalf("second start: %v, same credentials %t; want the first start's", err, again == first)
	}
	if err := writeSecrets(filepath.Join(dir, "secrets"), map[string]string{ConnectPasswordSecret: "pw"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{
		f.dir: 0o700 | os.ModeDir, f.password: 0o600, f.users: 0o600, f.jaas: 0o600,
		filepath.Join(dir, "secrets"): 0o700 | os.ModeDir, filepath.Join(dir, "secrets", ConnectPasswordSecret): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), want)
		}
	}
	users, _ := os.ReadFile(f.users)
	if string(users) != ConnectUser+": "+first.Password+"\n" {
		t.Errorf("users file = %q", users)
	}
	jaas, _ := os.ReadFile(f.jaas)
	if !strings.Contains(string(jaas), "KafkaConnect {") || !strings.Contains(string(jaas), `file="`+f.users+`"`) {
		t.Errorf("jaas file = %q, want the KafkaConnect section naming %s", jaas, f.users)
	}
	// The directory config provider reads a file's whole content: no
	// newline is added to a secret.
	if b, _ := os.ReadFile(filepath.Join(dir, "secrets", ConnectPasswordSecret)); string(b) != "pw" {
		t.Errorf("secret file = %q, want %q", b, "pw")
	}
}
