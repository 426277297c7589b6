package pki_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"shop/service/pki"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	ids, err := pki.Ensure(dir, "gateway", "orders")
	if err != nil {
		t.Fatal(err)
	}
	id := ids["orders"]
	pair, err := tls.LoadX509KeyPair(id.Cert(), id.Key())
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if leaf.Subject.CommonName != "orders" || !slices.Equal(leaf.DNSNames, []string{"orders", "localhost"}) || len(leaf.IPAddresses) != 2 {
		t.Errorf("certificate: CN %q, DNS %v, IP %v; want orders, [orders localhost], 127.0.0.1 and ::1", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	}
	caPEM, err := os.ReadFile(id.CA())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "orders", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("certificate does not verify against ca.crt: %v", err)
	}

	// Owner-only: directories 0700, every file 0600.
	for _, p := range []string{dir, filepath.Join(dir, "ca"), id.Dir} {
		if fi, err := os.Stat(p); err != nil || (p != dir && fi.Mode().Perm() != 0o700) {
			t.Errorf("%s: mode %v, %v; want 0700", p, fi.Mode().Perm(), err)
		}
	}
	for _, p := range []string{id.Cert(), id.Key(), id.CA(), filepath.Join(dir, "ca", pki.KeyFile)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, fi.Mode().Perm(), err)
		}
	}

	// Kept: a second Ensure changes nothing.
	before := readAll(t, id)
	if _, err := pki.Ensure(dir, "gateway", "orders"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, readAll(t, id)) {
		t.Error("second Ensure replaced a certificate that was good")
	}

	// A certificate close to its end is issued again.
	ca, err := pki.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Issue(id, time.Now().Add(-350*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	old := readAll(t, id)
	if _, err := pki.Ensure(dir, "orders"); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(old, readAll(t, id)) {
		t.Error("Ensure kept a certificate with 15 days left")
	}
}

func readAll(t *testing.T, id pki.Identity) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{id.Cert(), id.Key(), id.CA()} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}
