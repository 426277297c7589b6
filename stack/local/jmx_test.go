package local_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// A Connect worker started with a metrics port serves, through the JMX
// exporter agent, Debezium's streaming metrics of a running connector.
func TestConnectServesDebeziumMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Kafka Connect worker: skipped with -short")
	}
	env := stacktest.Get(t)
	metricsPort, err := local.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := env.ConnectWorkerConfig(t)
	cfg.MetricsPort = metricsPort
	w, err := local.StartConnect(ctx, cfg, stacktest.Logger())
	if err != nil {
		t.Fatalf("connect worker: %v", err)
	}
	t.Cleanup(w.Stop)
	if want := fmt.Sprintf("http://127.0.0.1:%d/metrics", metricsPort); w.MetricsURL() != want {
		t.Fatalf("MetricsURL() = %q, want %q", w.MetricsURL(), want)
	}

	db := env.NewDatabase(t, schema.Orders)
	env.StartConnector(t, db, env.NewTopic(t, "jmx"), w)

	// The connector's topic.prefix is its database's name.
	wants := []*regexp.Regexp{
		regexp.MustCompile(`(?m)^debezium_metrics_MilliSecondsBehindSource\{[^}]*context="streaming"[^}]*name="` + db.Name + `"[^}]*\} `),
		regexp.MustCompile(`(?m)^debezium_metrics_QueueRemainingCapacity\{[^}]*context="streaming"[^}]*\} [1-9]`),
		regexp.MustCompile(`(?m)^debezium_metrics_Connected\{[^}]*context="streaming"[^}]*\} 1`),
	}
	stacktest.WaitForNil(t, 90*time.Second, "debezium metrics on "+w.MetricsURL(), func() error {
		resp, err := http.Get(w.MetricsURL())
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		for _, re := range wants {
			if !re.Match(body) {
				return fmt.Errorf("no line matching %s", re)
			}
		}
		t.Logf("debezium metrics:\n%s", bytes.Join(regexp.MustCompile(`(?m)^debezium_metrics_.*$`).FindAll(body, -1), []byte("\n")))
		return nil
	})
}
