package kafkaclient_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"shop/cdc/kafkaclient"
	"shop/service"
)

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, selfSignedPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	brokers := []string{"127.0.0.1:9092"}
	tests := []struct {
		name               string
		kafka              service.Kafka
		wantSASL, wantTLS  bool
		wantUser, wantPass string
		wantErr            string
	}{
		{name: "Plaintext", kafka: service.Kafka{Brokers: brokers}},
		{name: "SCRAMPasswordFile", kafka: service.Kafka{Brokers: brokers, SASLUsername: "orders", SASLPasswordFile: pwFile},
			wantSASL: true, wantUser: "orders", wantPass: "secret"},
		{name: "SCRAMPassword", kafka: service.Kafka{Brokers: brokers, SASLUsername: "payments", SASLPassword: "pw"},
			wantSASL: true, wantUser: "payments", wantPass: "pw"},
		{name: "TLS", kafka: service.Kafka{Brokers: brokers, TLSCAFile: caFile}, wantTLS: true},
		{name: "ErrPasswordFile", kafka: service.Kafka{Brokers: brokers, SASLUsername: "orders", SASLPasswordFile: filepath.Join(dir, "nope")},
			wantErr: "KAFKA_SASL_PASSWORD_FILE"},
		{name: "ErrCAFile", kafka: service.Kafka{Brokers: brokers, TLSCAFile: filepath.Join(dir, "nope")}, wantErr: "KAFKA_TLS_CA_FILE"},
		{name: "ErrCANotPEM", kafka: service.Kafka{Brokers: brokers, TLSCAFile: notPEM}, wantErr: "no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := kafkaclient.Config(tt.kafka)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Config() error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := sc.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			sasl := sc.Net.SASL
			if sasl.Enable != tt.wantSASL || sc.Net.TLS.Enable != tt.wantTLS {
				t.Fatalf("SASL %v TLS %v, want SASL %v TLS %v", sasl.Enable, sc.Net.TLS.Enable, tt.wantSASL, tt.wantTLS)
			}
			if tt.wantSASL && (sasl.Mechanism != sarama.SASLTypeSCRAMSHA512 || sasl.User != tt.wantUser || sasl.Password != tt.wantPass) {
				t.Errorf("SASL %s as %q/%q, want SCRAM-SHA-512 as %q/%q", sasl.Mechanism, sasl.User, sasl.Password, tt.wantUser, tt.wantPass)
			}
		})
	}
}

// selfSignedPEM is a throwaway CA certificate.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
