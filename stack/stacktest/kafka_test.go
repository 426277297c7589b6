package stacktest_test

import (
	"testing"

	"github.com/IBM/sarama"

	"shop/stack/stacktest"
)

// TestKafkaBrokerSettings reads back, from the running broker, the settings
// the stack gives Kafka for this machine (stack/local/kafka.go).
func TestKafkaBrokerSettings(t *testing.T) {
	env := stacktest.Get(t)
	admin, err := sarama.NewClusterAdmin(env.Brokers, env.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	results, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.BrokerResource, Name: "1"}}, sarama.DescribeConfigsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range results {
		if r.ErrorCode != sarama.ErrNoError {
			t.Fatalf("describe broker %s: %s", r.Name, r.ErrorMsg)
		}
		for _, e := range r.Configs {
			got[e.Name] = e.Value
		}
	}
	for name, want := range map[string]string{
		// A no-op record in the metadata log every 5 s at rest, not every
		// 500 ms.
		"metadata.max.idle.interval.ms": "5000",
		"num.network.threads":           "2",
		"num.io.threads":                "4",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
}
