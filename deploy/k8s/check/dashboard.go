package check

import (
	"encoding/json"

	"sigs.k8s.io/yaml"
)

// Panel is one graph of the pipeline dashboard: a PromQL query over the
// metrics the programs and the JMX exporters serve.
type Panel struct {
	Title, Expr, Legend, Unit string
}

// DashboardPanels are the graphs of the shop's pipeline, in the order of an
// order's walk: requests, the event's delivery, what can hold it up.
var DashboardPanels = []Panel{
	{"Orders created per second", `sum(rate(http_requests_total{method="POST",route="/api/v1/orders",code="201"}[1m]))`, "orders/s", "reqps"},
	{"Gateway p99 latency by route", `histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket[5m])))`, "{{route}}", "s"},
	{"Gateway 5xx per second", `sum by (route) (rate(http_requests_total{code=~"5.."}[1m]))`, "{{route}}", "reqps"},
	{"Event delivery p99 (outbox row to applied)", `histogram_quantile(0.99, sum by (le, topic) (rate(shop_event_delivery_seconds_bucket[5m])))`, "{{topic}}", "s"},
	{"Consumer lag", `sum by (group, topic) (shop_consumer_lag_messages)`, "{{group}} on {{topic}}", "short"},
	{"Oldest PENDING order", `max(shop_orders_pending_oldest_seconds)`, "age", "s"},
	{"Debezium behind its database", `max by (name) (debezium_metrics_MilliSecondsBehindSource{context="streaming"})`, "{{name}}", "ms"},
	{"Replication slot lag", `max by (slot) (shop_replication_slot_lag_bytes)`, "{{slot}}", "bytes"},
	{"Connectors up, slots active", `min by (connector) (shop_connector_up) or min by (slot) (shop_replication_slot_active)`, "{{connector}}{{slot}}", "short"},
	{"Unhandled dead letters", `sum by (topic) (shop_dead_letters)`, "{{topic}}", "short"},
}

// DashboardConfigMap is the ConfigMap holding the dashboard, labelled for
// Grafana's dashboard sidecar.
const DashboardConfigMap = "shop-dashboard"

// dashboard renders DashboardPanels as a Grafana dashboard in a ConfigMap.
func dashboard(string) ([]byte, error) {
	var panels []map[string]any
	for i, p := range DashboardPanels {
		panels = append(panels, map[string]any{
			"id":          i + 1,
			"type":        "timeseries",
			"title":       p.Title,
			"datasource":  map[string]any{"type": "prometheus", "uid": "${datasource}"},
			"gridPos":     map[string]any{"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i / 2)},
			"fieldConfig": map[string]any{"defaults": map[string]any{"unit": p.Unit}, "overrides": []any{}},
			"targets": []any{map[string]any{
				"refId": "A", "expr": p.Expr, "legendFormat": p.Legend,
				"datasource": map[string]any{"type": "prometheus", "uid": "${datasource}"},
			}},
		})
	}
	board, err := json.MarshalIndent(map[string]any{
		"title":         "shop: the order pipeline",
		"uid":           "shop-pipeline",
		"schemaVersion": 39,
		"time":          map[string]any{"from": "now-1h", "to": "now"},
		"refresh":       "30s",
		"templating": map[string]any{"list": []any{map[string]any{
			"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus",
		}}},
		"panels": panels,
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "ConfigMap",
		"metadata": map[string]any{
			"name":   DashboardConfigMap,
			"labels": map[string]string{"grafana_dashboard": "1"},
		},
		"data": map[string]string{"shop-pipeline.json": string(board) + "\n"},
	})
	if err != nil {
		return nil, err
	}
	return join("deploy/k8s/check/dashboard.go (DashboardPanels)", [][]byte{out}), nil
}
