package local_test

import (
	"os"
	"path/filepath"
	"testing"

	"shop/stack/local"
)

// The Kafka passwords are created once, owner-only, in a directory that
// leaves the data directory traversable (Postgres runs as another user),
// and kept across starts.
func TestEnsureKafkaSecrets(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	dir := local.KafkaSecretsDir(data)
	first, err := local.EnsureKafkaSecrets(dir, local.KafkaAdmin, local.KafkaOrders)
	if err != nil {
		t.Fatal(err)
	}
	if first.Password(local.KafkaAdmin) == "" || first.Password(local.KafkaAdmin) == first.Password(local.KafkaOrders) {
		t.Fatalf("passwords %q and %q: want two different non-empty ones", first.Password(local.KafkaAdmin), first.Password(local.KafkaOrders))
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{data, 0o755},
		{dir, 0o700},
		{first.File(local.KafkaOrders), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
	again, err := local.EnsureKafkaSecrets(dir, local.KafkaAdmin, local.KafkaOrders, local.KafkaPayments)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := again.Password(local.KafkaOrders), first.Password(local.KafkaOrders); got != want {
		t.Errorf("second start: orders password %q, want the first one %q", got, want)
	}
	if again.Password(local.KafkaPayments) == "" {
		t.Error("second start: no password for a principal added since")
	}
}
