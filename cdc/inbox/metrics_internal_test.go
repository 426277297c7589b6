package inbox

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	gometrics "github.com/rcrowley/go-metrics"

	"shop/stack/stacktest"
)

func TestParseCreatedAt(t *testing.T) {
	want := time.Date(2026, 11, 28, 8, 16, 20, 355447000, time.UTC)
	for _, tt := range []struct {
		name, header string
		want         time.Time
	}{
		{"Debezium", "2026-11-28T08:16:20.355447Z", want},
		{"NoFraction", "2026-11-28T08:16:20Z", want.Truncate(time.Second)},
		{"Offset", "2026-11-28T09:16:20.355447+01:00", want},
		{"JSONQuoted", `"2026-11-28T08:16:20.355447Z"`, want},
		{"Garbage", "yesterday", time.Time{}},
		{"Empty", "", time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &sarama.ConsumerMessage{Headers: []*sarama.RecordHeader{
				{Key: []byte(HeaderID), Value: []byte("5bed3540-30d6-4bcd-b80e-03cdfcc400bc")},
				{Key: []byte(HeaderCreatedAt), Value: []byte(tt.header)},
			}}
			got, err := parseMessage(m)
			if err != nil {
				t.Fatalf("parseMessage() = %v, want no error: createdAt never rejects a message", err)
			}
			if !got.CreatedAt.Equal(tt.want) {
				t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, tt.want)
			}
		})
	}
}

// With NoMetrics a committed batch observes no delivery time and counts no
// dead letter, and no lag is tracked; without it, it does.
func TestNoMetrics(t *testing.T) {
	const topic = "test.no-metrics"
	for _, tt := range []struct {
		name      string
		noMetrics bool
		want      uint64
	}{
		{name: "On", want: 2},
		{name: "Off", noMetrics: true, want: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Consumer{cfg: Config{NoMetrics: tt.noMetrics}}
			samples := func() (uint64, float64) {
				var m dto.Metric
				if err := eventDelivery.WithLabelValues(topic).(prometheus.Metric).Write(&m); err != nil {
					t.Fatal(err)
				}
				return m.GetHistogram().GetSampleCount(), testutil.ToFloat64(deadLettersWritten.WithLabelValues(topic))
			}
			n0, d0 := samples()
			c.observeCommitted(topic, []time.Time{time.Now().Add(-time.Millisecond), time.Now()}, 1)
			n1, d1 := samples()
			if n1-n0 != tt.want {
				t.Errorf("delivery samples: +%d, want +%d", n1-n0, tt.want)
			}
			if d1-d0 != float64(tt.want/2) {
				t.Errorf("dead letters counted: +%v, want +%d", d1-d0, tt.want/2)
			}
			if tt.noMetrics {
				lag := c.trackLag(nil) // no claim is looked at
				if lag != nil {
					t.Errorf("trackLag() = %v, want nil", lag)
				}
				lag.seen(1)
				lag.applied(2)
				lag.close()
			}
		})
	}
}

// TestClientMetricsDisabled: with DisableClientMetrics called (TestMain
// does, as the services' main functions do), a client with a consumer's
// sarama config registers its metrics, and after real requests to the
// broker none has recorded anything.
func TestClientMetricsDisabled(t *testing.T) {
	env := stacktest.Get(t)
	sc, err := saramaConfig(Config{Kafka: env.Kafka(stacktest.Tester), Group: "g", BatchSize: DefaultBatchSize})
	if err != nil {
		t.Fatal(err)
	}
	client, err := sarama.NewClient(env.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for range 3 {
		if err := client.RefreshMetadata(); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	sc.MetricRegistry.Each(func(name string, m any) {
		n++
		var count int64
		switch m := m.(type) {
		case gometrics.Meter:
			count = m.Snapshot().Count()
		case gometrics.Histogram:
			count = m.Snapshot().Count()
		case gometrics.Counter:
			count = m.Snapshot().Count()
		}
		if count != 0 {
			t.Errorf("sarama metric %s recorded %d: want client metrics disabled", name, count)
		}
	})
	if n == 0 {
		t.Error("no sarama metric registered: the test checks nothing")
	}
}
