// Package kafkaclient builds the sarama configuration every Kafka client of
// the shop starts from: the services' consumers, the operator tool, the
// stack and the tests. It authenticates as one principal with
// SASL/SCRAM-SHA-512 (service.Kafka's username and password) and, when a
// CA file is given, speaks TLS to the brokers; with no username it speaks
// PLAINTEXT unauthenticated, which only a broker's PLAINTEXT listener
// accepts.
package kafkaclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	"shop/service"
)

// Config returns a new sarama configuration for k: Kafka 4.0's protocol,
// SASL/SCRAM-SHA-512 as k's principal when k has a username, TLS when k
// names a CA file. It reads the password file now. It returns an error when
// the password or the CA file cannot be read.
func Config(k service.Kafka) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	// Kafka 4 removed the old protocol versions; 4.0 is the floor we speak.
	sc.Version = sarama.V4_0_0_0
	if k.SASLUsername != "" {
		pw, err := k.Password()
		if err != nil {
			return nil, err
		}
		SCRAM(sc, k.SASLUsername, pw)
	}
	if k.TLSCAFile != "" {
		pem, err := os.ReadFile(k.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("KAFKA_TLS_CA_FILE %s: no PEM certificate", k.TLSCAFile)
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return sc, nil
}

// SCRAM makes sc authenticate as user with password over
// SASL/SCRAM-SHA-512.
func SCRAM(sc *sarama.Config, user, password string) {
	saslAs(sc, sarama.SASLTypeSCRAMSHA512, user, password)
	sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{} }
}

// Plain makes sc authenticate as user with password over SASL/PLAIN: only
// the stack's own administrator, whose credentials live in the broker's
// configuration and so exist before any SCRAM user does.
func Plain(sc *sarama.Config, user, password string) {
	saslAs(sc, sarama.SASLTypePlaintext, user, password)
}

func saslAs(sc *sarama.Config, mechanism sarama.SASLMechanism, user, password string) {
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Mechanism = mechanism
	sc.Net.SASL.User = user
	sc.Net.SASL.Password = password
}

// scramClient is sarama's SCRAM conversation over package scram.
type scramClient struct {
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := scram.SHA512.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.conv == nil {
		return "", errors.New("scram: conversation not begun")
	}
	return c.conv.Step(challenge)
}

func (c *scramClient) Done() bool { return c.conv != nil && c.conv.Done() }
