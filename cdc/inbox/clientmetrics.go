package inbox

import "github.com/rcrowley/go-metrics"

// DisableClientMetrics turns off sarama's own client metrics for the whole
// process: the request, response and fetch meters and histograms that
// sarama keeps per broker connection in each sarama.Config's go-metrics
// registry, updated on every request. Nothing reads them (the consumer's
// metrics are Prometheus', metrics.go), and under load updating them was 2
// to 6 % of a service's CPU. It sets go-metrics'
// process-wide switch, which sarama reads whenever it opens a connection:
// call it at the start of main, before any Kafka client exists.
func DisableClientMetrics() { metrics.UseNilMetrics = true }
