package stacktest

import (
	"testing"

	"github.com/IBM/sarama"

	"shop/cdc/kafkaclient"
	"shop/service"
	"shop/stack/local"
)

// Kafka is how principal (local.KafkaOrders, local.KafkaTester, ...)
// reaches the stack's Kafka: the SASL brokers and its credentials, as its
// KAFKA_* variables would say. Without authentication (the docker
// provider) it is the brokers alone.
func (e *Env) Kafka(principal string) service.Kafka {
	if e.KafkaSecretsDir == "" {
		return service.Kafka{Brokers: e.Brokers}
	}
	return e.kafka.Client(e.Brokers, principal)
}

// ClientConfig returns a new sarama configuration authenticated as the
// tests' principal (local.KafkaTester), which may read and write the
// topics of NewTopic and use any consumer group, for a test's own
// producers, consumers and admin clients.
func (e *Env) ClientConfig(t testing.TB) *sarama.Config {
	t.Helper()
	sc, err := kafkaclient.Config(e.Kafka(local.KafkaTester))
	if err != nil {
		t.Fatalf("kafka client config: %v", err)
	}
	return sc
}

// adminConfig is the stack's administrator's configuration.
func (e *Env) adminConfig() *sarama.Config {
	if e.KafkaSecretsDir == "" {
		sc, _ := kafkaclient.Config(service.Kafka{}) // without credentials it cannot fail
		return sc
	}
	return e.kafka.AdminConfig()
}

// Grant adds ACLs as the stack's administrator (nothing without
// authentication). They stay when the test ends; the names they are on
// are the test's own.
func (e *Env) Grant(t testing.TB, grants ...local.Grant) {
	t.Helper()
	if e.KafkaSecretsDir == "" {
		return
	}
	if err := local.EnsureACLs(e.Brokers, e.kafka, grants); err != nil {
		t.Fatalf("grant: %v", err)
	}
}

// Tester is the tests' own Kafka principal (local.KafkaTester), for
// Env.Kafka.
const Tester = local.KafkaTester
