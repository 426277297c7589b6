package stacktest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"shop/cdc/kafkaclient"
	"shop/service"
	"shop/stack/local"
	"shop/stack/stacktest"
)

// TestKafkaShopACLs checks the ACLs `make run` gives the shop
// (local.ShopGrants), on topics of their own: only Kafka Connect may write
// payments.events; orders, payments, a client without SASL, one with a
// wrong password and an anonymous one on the PLAINTEXT listener are
// refused; orders reads what Connect wrote in its own group.
func TestKafkaShopACLs(t *testing.T) {
	env := stacktest.Get(t)
	if env.KafkaSecretsDir == "" {
		t.Skip("kafka without authentication (docker provider)")
	}
	topics := service.Topics{Orders: env.NewBareTopic(t, "orders.events", 1), Payments: env.NewBareTopic(t, "payments.events", 1)}
	ordersGroup, paymentsGroup := stacktest.Unique("g-orders-"), stacktest.Unique("g-payments-")
	env.Grant(t, local.ShopGrants(topics, ordersGroup, paymentsGroup, local.ConnectGroup)...)

	withPassword := func(principal, password string) service.Kafka {
		k := env.Kafka(principal)
		k.SASLPasswordFile, k.SASLPassword = "", service.Secret(password)
		return k
	}
	tests := []struct {
		name    string
		kafka   service.Kafka
		wantErr error // nil: refused with any error; ErrNone: the produce succeeds
	}{
		{"Connect", env.Kafka(local.KafkaConnect), errNone},
		{"ErrOrders", env.Kafka(local.KafkaOrders), sarama.ErrTopicAuthorizationFailed},
		{"ErrPayments", env.Kafka(local.KafkaPayments), sarama.ErrTopicAuthorizationFailed},
		{"ErrShopctl", env.Kafka(local.KafkaShopctl), sarama.ErrTopicAuthorizationFailed},
		{"ErrWrongPassword", withPassword(local.KafkaConnect, "not-the-password"), sarama.ErrSASLAuthenticationFailed},
		{"ErrUnknownUser", withPassword("mallory", "x"), sarama.ErrSASLAuthenticationFailed},
		{"ErrNoSASL", service.Kafka{Brokers: env.Brokers}, nil},
		{"ErrAnonymousPlaintext", service.Kafka{Brokers: env.PlaintextBrokers}, sarama.ErrTopicAuthorizationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := produce(tt.kafka, topics.Payments)
			switch {
			case tt.wantErr == errNone:
				if err != nil {
					t.Fatalf("produce: %v, want success", err)
				}
			case err == nil:
				t.Fatalf("produce to %s succeeded, want it refused", topics.Payments)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("produce: %v, want %v", err, tt.wantErr)
			}
		})
	}

	t.Run("OrdersConsumes", func(t *testing.T) {
		sc, err := kafkaclient.Config(env.Kafka(local.KafkaOrders))
		if err != nil {
			t.Fatal(err)
		}
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
		group, err := sarama.NewConsumerGroup(env.Brokers, ordersGroup, sc)
		if err != nil {
			t.Fatal(err)
		}
		defer group.Close()
		h := &firstMessage{got: make(chan *sarama.ConsumerMessage, 1)}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		go func() { _ = group.Consume(ctx, []string{topics.Payments}, h) }()
		select {
		case m := <-h.got:
			if string(m.Value) != "event" {
				t.Fatalf("read %q, want %q", m.Value, "event")
			}
		case <-ctx.Done():
			t.Fatal("orders read nothing from payments.events in a minute")
		}
	})
	t.Run("ErrOrdersReadsOrders", func(t *testing.T) {
		sc, err := kafkaclient.Config(env.Kafka(local.KafkaOrders))
		if err != nil {
			t.Fatal(err)
		}
		c, err := sarama.NewConsumer(env.Brokers, sc)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.ConsumePartition(topics.Orders, 0, sarama.OffsetOldest); err == nil {
			t.Fatalf("orders may read %s, want it refused", topics.Orders)
		}
	})
}

// errNone marks a produce that must succeed.
var errNone = errors.New("none")

// produce sends one message to topic as k's principal.
func produce(k service.Kafka, topic string) error {
	sc, err := kafkaclient.Config(k)
	if err != nil {
		return err
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Retry.Max = 0
	sc.Metadata.Retry.Max = 0
	sc.Net.DialTimeout = 5 * time.Second
	sc.Net.ReadTimeout = 5 * time.Second
	p, err := sarama.NewSyncProducer(k.Brokers, sc)
	if err != nil {
		return err
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("alice"), Value: sarama.StringEncoder("event")})
	return err
}

// firstMessage is a consumer group handler that hands on the first message.
type firstMessage struct{ got chan *sarama.ConsumerMessage }

func (*firstMessage) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*firstMessage) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *firstMessage) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		select {
		case h.got <- m:
		default:
		}
		s.MarkMessage(m, "")
	}
	return nil
}
