package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// secrets are the files an API server needs at start, made fresh each time:
// a CA and the serving certificate it signs, the service-account key pair,
// and a token file with one administrator's token.
type secrets struct {
	caPEM                    []byte
	certFile, keyFile        string
	saPublicFile, saPrivFile string
	tokenFile, token         string
}

// makeSecrets writes the files under dir (owner-only).
func makeSecrets(dir string) (secrets, error) {
	s := secrets{
		certFile: filepath.Join(dir, "apiserver.crt"), keyFile: filepath.Join(dir, "apiserver.key"),
		saPublicFile: filepath.Join(dir, "sa.pub"), saPrivFile: filepath.Join(dir, "sa.key"),
		tokenFile: filepath.Join(dir, "tokens.csv"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "manifest check CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return s, err
	}
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	ca, _ = x509.ParseCertificate(caDER)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return s, err
	}
	if err := writePEM(s.certFile, "CERTIFICATE", leafDER); err != nil {
		return s, err
	}
	if err := writeECKey(s.keyFile, key); err != nil {
		return s, err
	}

	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, err
	}
	if err := writeECKey(s.saPrivFile, sa); err != nil {
		return s, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return s, err
	}
	if err := writePEM(s.saPublicFile, "PUBLIC KEY", pub); err != nil {
		return s, err
	}

	tok := make([]byte, 24)
	rand.Read(tok)
	s.token = hex.EncodeToString(tok)
	// token,user,uid,"group": system:masters may do anything.
	err = os.WriteFile(s.tokenFile, []byte(s.token+",check-admin,check-admin,\"system:masters\"\n"), 0o600)
	return s, err
}

func writeECKey(name string, k *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	return writePEM(name, "EC PRIVATE KEY", der)
}

func writePEM(name, typ string, der []byte) error {
	return os.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
