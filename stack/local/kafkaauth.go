package local

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/IBM/sarama"

	"shop/cdc/kafkaclient"
	"shop/service"
)

// The Kafka principals of the shop, one SCRAM-SHA-512 user each
// (docs/security.md, "Kafka principals and ACLs").
const (
	KafkaOrders   = "orders"
	KafkaPayments = "payments"
	KafkaConnect  = "connect"
	KafkaShopctl  = "shopctl"
	// KafkaTester is the tests' own principal (StartInfra only): it may
	// read and write the topics a test creates, nothing else.
	KafkaTester = "stacktest"
	// KafkaAdmin is the stack's superuser: the broker's own connections
	// (inter-broker, controller) and the stack creating topics, users and
	// ACLs. It authenticates with SASL/PLAIN against the broker's
	// configuration, so it exists before any SCRAM user does; no service
	// is given it.
	KafkaAdmin = "admin"
)

// KafkaSecrets are the passwords of the Kafka principals, one file per
// principal in Dir (owner-only), created with a random password on first
// use and kept across restarts.
type KafkaSecrets struct {
	Dir       string
	passwords map[string]string
}

// KafkaSecretsDir is where a stack whose data is in dataDir keeps its
// Kafka passwords.
func KafkaSecretsDir(dataDir string) string { return filepath.Join(dataDir, "secrets", "kafka") }

// EnsureKafkaSecrets reads the password of each of principals from dir,
// creating dir (0700) and each missing file (0600, 32 random bytes in hex).
func EnsureKafkaSecrets(dir string, principals ...string) (KafkaSecrets, error) {
	// The parents as any data directory (Postgres, running as its own
	// user, must traverse the data directory); dir itself owner-only.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
	}
	s := KafkaSecrets{Dir: dir, passwords: map[string]string{}}
	for _, p := range principals {
		path := s.File(p)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return KafkaSecrets{}, err
			}
			b = []byte(hex.EncodeToString(raw))
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
			}
			_, werr := f.Write(b)
			if err := errors.Join(werr, f.Close()); err != nil {
				return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
			}
		} else if err != nil {
			return KafkaSecrets{}, fmt.Errorf("kafka secrets: %w", err)
		}
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return KafkaSecrets{}, fmt.Errorf("kafka secrets: %s is empty", path)
		}
		s.passwords[p] = pw
	}
	return s, nil
}

// NewKafkaSecrets holds the passwords by principal, with no files
// (compose's, from .env).
func NewKafkaSecrets(passwords map[string]string) KafkaSecrets {
	return KafkaSecrets{passwords: passwords}
}

// File is the path of principal's password file.
func (s KafkaSecrets) File(principal string) string { return filepath.Join(s.Dir, principal) }

// Password is principal's password, "" when s does not hold it.
func (s KafkaSecrets) Password(principal string) string { return s.passwords[principal] }

// Client is how principal reaches the brokers: what its
// KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE say.
func (s KafkaSecrets) Client(brokers []string, principal string) service.Kafka {
	return service.Kafka{Brokers: brokers, SASLUsername: principal, SASLPasswordFile: s.File(principal)}
}

// AdminConfig is a sarama configuration authenticated as KafkaAdmin.
func (s KafkaSecrets) AdminConfig() *sarama.Config {
	sc, _ := kafkaclient.Config(service.Kafka{}) // without credentials it cannot fail
	kafkaclient.Plain(sc, KafkaAdmin, s.Password(KafkaAdmin))
	return sc
}

// brokerAuthProps are the broker's settings for SASL and ACLs: the SASL
// listener takes SCRAM-SHA-512 (the principals, created by
// EnsureKafkaUsers) and PLAIN (KafkaAdmin alone, declared here); the
// controller listener takes KafkaAdmin alone; the broker's own
// connections authenticate as KafkaAdmin, the only superuser. With no ACL
// a resource is closed to everyone else.
func brokerAuthProps(adminPassword string) string {
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.plain.PlainLoginModule required username="%[1]s" password="%[2]s" user_%[1]s="%[2]s";`,
		KafkaAdmin, adminPassword)
	return `sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=` + jaas + `
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=` + jaas + `
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:` + KafkaAdmin + `
allow.everyone.if.no.acl.found=false
`
}

// EnsureKafkaUsers creates or updates the SCRAM-SHA-512 credentials of
// principals with their passwords in secrets, as KafkaAdmin. Running it at
// every start keeps the broker in step with the files.
func EnsureKafkaUsers(brokers []string, secrets KafkaSecrets, principals ...string) error {
	admin, err := sarama.NewClusterAdmin(brokers, secrets.AdminConfig())
	if err != nil {
		return fmt.Errorf("kafka admin: %w", err)
	}
	defer admin.Close()
	var ups []sarama.AlterUserScramCredentialsUpsert
	for _, p := range principals {
		salt := make([]byte, 32)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		ups = append(ups, sarama.AlterUserScramCredentialsUpsert{Name: p, Mechanism: sarama.SCRAM_MECHANISM_SHA_512,
			Iterations: 8192, Salt: salt, Password: []byte(secrets.Password(p))})
	}
	res, err := admin.UpsertUserScramCredentials(ups)
	if err != nil {
		return fmt.Errorf("kafka scram users: %w", err)
	}
	for _, r := range res {
		if r.ErrorCode != sarama.ErrNoError {
			return fmt.Errorf("kafka scram user %s: %w", r.User, r.ErrorCode)
		}
	}
	return nil
}
