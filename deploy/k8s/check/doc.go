// Package check keeps deploy/k8s, the shop's Kubernetes manifests, true to
// the code they deploy. Generate renders the manifests that are derived from
// the project's own files (the KafkaConnectors from connect/*.json, the
// PrometheusRule from monitoring/alerts.yml, the JMX exporter rules from
// stack/local/jmx) and the pipeline's Grafana dashboard, so that each fact
// has one source; Build renders an overlay the way `kubectl apply -k` does.
// Its tests cross-check the
// rendered overlays against what no schema knows: the variables the
// binaries read, the connector configs, the topics' partitions against the
// autoscalers, the KEDA scaler's keys, the alerting rules and the paths the
// network policies leave open.
package check
