// Package pki is the local certificate authority of `make run`, `stack
// pki` and the tests: an ECDSA P-256 CA kept in a directory, and for each
// program a certificate for mutual TLS on the gRPC hops, whose Subject
// CommonName is the program's name (its identity, package grpctls) and
// whose DNS and IP SANs are the names it is dialed by on one machine
// (localhost, 127.0.0.1, ::1) and in compose (the program's name).
//
// Files are named like the keys of a cert-manager Secret: <dir>/<name>/
// tls.crt, tls.key and ca.crt; the CA's own key stays in <dir>/ca/. Keys
// and directories are readable by their owner only. Whoever reads the CA
// key can be any program: it is for a development machine and tests.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"shop/service/grpctls"
)

// The files of an identity's directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	CAFile   = "ca.crt"
)

// Lifetimes: the CA's, and a program certificate's, which Ensure issues
// again once less than renewBefore of it is left.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	certLifetime = 365 * 24 * time.Hour
	renewBefore  = 30 * 24 * time.Hour
)

// Identity is where one program's certificate, key and CA are.
type Identity struct {
	Name string
	Dir  string
}

// Cert, Key and CA are the paths of the identity's files.
func (i Identity) Cert() string { return filepath.Join(i.Dir, CertFile) }
func (i Identity) Key() string  { return filepath.Join(i.Dir, KeyFile) }
func (i Identity) CA() string   { return filepath.Join(i.Dir, CAFile) }

// Files are the identity's files as package grpctls takes them.
func (i Identity) Files() grpctls.Files {
	return grpctls.Files{CertFile: i.Cert(), KeyFile: i.Key(), CAFile: i.CA()}
}

// Environ is the identity as the variables of package grpctls.
func (i Identity) Environ() []string {
	return []string{"GRPC_TLS_CERT_FILE=" + i.Cert(), "GRPC_TLS_KEY_FILE=" + i.Key(), "GRPC_TLS_CA_FILE=" + i.CA()}
}

// CA is a certificate authority that signs program certificates.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// Ensure returns the identities of names under dir, made by the CA kept
// in dir/ca, each created on first use and kept afterwards: a certificate
// is issued again only when its files are missing or unreadable, when it
// was not signed by this CA, or when less than 30 days of it are left.
func Ensure(dir string, names ...string) (map[string]Identity, error) {
	ca, err := ensureCA(filepath.Join(dir, "ca"))
	if err != nil {
		return nil, err
	}
	out := map[string]Identity{}
	for _, name := range names {
		id := Identity{Name: name, Dir: filepath.Join(dir, name)}
		if !ca.issued(id) {
			if err := ca.Issue(id, time.Now()); err != nil {
				return nil, err
			}
		}
		out[name] = id
	}
	return out, nil
}

// NewCA returns a new CA named name, kept in memory only (for tests: a CA
// other than the one a server trusts).
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// ensureCA loads the CA kept in dir, or creates it.
func ensureCA(dir string) (*CA, error) {
	_, err := os.Stat(filepath.Join(dir, CertFile))
	if errors.Is(err, fs.ErrNotExist) {
		ca, err := NewCA("shop local CA")
		if err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
		keyDER, err := x509.MarshalECPrivateKey(ca.key)
		if err != nil {
			return nil, err
		}
		if err := writeFiles(dir, map[string][]byte{
			KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			CertFile: ca.pem,
		}); err != nil {
			return nil, fmt.Errorf("local CA: %w", err)
		}
		return ca, nil
	}
	return loadCA(dir)
}

// LoadCA returns the CA that Ensure keeps under dir.
func LoadCA(dir string) (*CA, error) { return loadCA(filepath.Join(dir, "ca")) }

func loadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, fmt.Errorf("local CA: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("local CA in %s: no PEM block (remove the directory to make a new CA)", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local CA in %s: %w", dir, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("local CA in %s: %w", dir, err)
	}
	return &CA{cert: cert, key: key, pem: certPEM}, nil
}

// issued reports whether id holds a certificate of ca, with its key and
// ca's certificate, that is good for more than renewBefore.
func (ca *CA) issued(id Identity) bool {
	caPEM, err := os.ReadFile(id.CA())
	if err != nil || !bytes.Equal(caPEM, ca.pem) {
		return false
	}
	certPEM, err := os.ReadFile(id.Cert())
	if err != nil {
		return false
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return false
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || cert.CheckSignatureFrom(ca.cert) != nil || time.Until(cert.NotAfter) < renewBefore {
		return false
	}
	_, err = os.Stat(id.Key())
	return err == nil
}

// Issue writes a new key and certificate for id, valid from now, with ca's
// certificate beside them. The files are replaced one by one, each
// atomically; a reader that catches a new certificate with the old key
// fails and reads again later (grpctls does).
func (ca *CA) Issue(id Identity, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id.Name},
		DNSNames:     slices.Compact([]string{id.Name, "localhost"}),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		// Every program is a client; orders and payments are servers too.
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("issue a certificate for %s: %w", id.Name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFiles(id.Dir, map[string][]byte{
		KeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		CertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		CAFile:   ca.pem,
	}); err != nil {
		return fmt.Errorf("certificate of %s: %w", id.Name, err)
	}
	return nil
}

// writeFiles creates dir (0700) and replaces each file in it atomically
// (a temporary file renamed), readable by its owner only, the key first.
func writeFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{KeyFile, CertFile, CAFile} {
		b, ok := files[name]
		if !ok {
			continue
		}
		tmp, err := os.CreateTemp(dir, name+".*")
		if err != nil {
			return err
		}
		_, err = tmp.Write(b)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), filepath.Join(dir, name))
		}
		if err != nil {
			os.Remove(tmp.Name())
			return err
		}
	}
	return nil
}

// serial is a random 128-bit certificate serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}
