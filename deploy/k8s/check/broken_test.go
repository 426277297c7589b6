package check

import (
	"strings"
	"testing"
)

// set walks obj along keys to the last one's parent and sets it to v.
func set(t *testing.T, obj any, v any, keys ...any) {
	t.Helper()
	parent := Get(obj, keys[:len(keys)-1]...)
	m, ok := asMap(parent)
	if !ok {
		t.Fatalf("set %v: no object there", keys)
	}
	m[keys[len(keys)-1].(string)] = v
}

// must returns the object of kind and name, failing t when there is none.
func must(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	o := Find(objs, kind, name)
	if o == nil {
		t.Fatalf("no %s %s", kind, name)
	}
	return o
}

// configMap returns the env ConfigMap of the Deployment name.
func configMap(t *testing.T, objs []Object, name string) map[string]any {
	t.Helper()
	ref := Get(must(t, objs, "Deployment", name), "spec", "template", "spec", "containers", 0, "envFrom", 0, "configMapRef", "name").(string)
	return Get(must(t, objs, "ConfigMap", ref), "data").(map[string]any)
}

// TestChecksRefuseBrokenManifests shows each cross-check failing: the dev
// overlay, broken in one place the way a careless edit would break it,
// must make the check report the fault.
func TestChecksRefuseBrokenManifests(t *testing.T) {
	r := root(t)
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, objs []Object) []Object
		check  func(t *testing.T, objs []Object) []error
		want   string
	}{{
		name: "EnvVarNoBinaryReads",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "orders")["ORDERS_DATABSE_URL"] = "postgres://x@y/z"
			return objs
		},
		check: checkEnv,
		want:  "sets ORDERS_DATABSE_URL, which its binary does not read",
	}, {
		name: "EnvVarOfAnotherBinary",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "gateway")["KAFKA_BROKERS"] = "shop-kafka-bootstrap:9093"
			return objs
		},
		check: checkEnv,
		want:  "sets KAFKA_BROKERS, which its binary does not read",
	}, {
		name: "EnvValueRefused",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "orders")["ORDERS_CREATE_LINGER"] = "1h"
			return objs
		},
		check: checkEnv,
		want:  "refuses its configuration",
	}, {
		name: "FileNotMounted",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "payments")["KAFKA_SASL_PASSWORD_FILE"] = "/var/run/shop/kafka/password"
			return objs
		},
		check: checkEnv,
		want:  "no volume is mounted there",
	}, {
		name: "UnknownWorkload",
		mutate: func(t *testing.T, objs []Object) []Object {
			d := must(t, objs, "Deployment", "orders")
			c := Object{}
			for k, v := range d {
				c[k] = v
			}
			c["metadata"] = map[string]any{"name": "audit", "namespace": "shop"}
			return append(objs, c)
		},
		check: checkEnv,
		want:  "Deployment audit: no binary known",
	}, {
		name: "ConnectorReservedOption",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "KafkaConnector", "orders-outbox"), "1", "spec", "config", "tasks.max")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkConnectors(r, objs) },
		want:  "spec.config sets tasks.max, which Strimzi reserves",
	}, {
		name: "ConnectorDrifted",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "KafkaConnector", "payments-outbox"), "5", "spec", "config", "poll.interval.ms")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkConnectors(r, objs) },
		want:  `poll.interval.ms is "5", connect/payments-outbox.json says "15"`,
	}, {
		name: "ConnectorPasswordLiteral",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "KafkaConnector", "orders-outbox"), "debezium", "spec", "config", "database.password")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkConnectors(r, objs) },
		want:  "database.password is not a config provider reference",
	}, {
		name: "ConnectorWithoutFailoverSlot",
		mutate: func(t *testing.T, objs []Object) []Object {
			delete(Get(must(t, objs, "KafkaConnector", "orders-outbox"), "spec", "config").(map[string]any), "slot.failover")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkConnectors(r, objs) },
		want:  `slot.failover is ""`,
	}, {
		name: "MoreReplicasThanPartitions",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "ScaledObject", "orders"), 13, "spec", "maxReplicaCount")
			return objs
		},
		check: checkScaledObjects,
		want:  "maxReplicaCount 13 exceeds topic payments.events's 12 partitions",
	}, {
		name: "MaxReplicaCountUnset",
		mutate: func(t *testing.T, objs []Object) []Object {
			delete(Get(must(t, objs, "ScaledObject", "payments"), "spec").(map[string]any), "maxReplicaCount")
			return objs
		},
		check: checkScaledObjects,
		want:  "maxReplicaCount 100 exceeds",
	}, {
		name: "KEDAMetadataTypo",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "ScaledObject", "orders"), "500", "spec", "triggers", 0, "metadata", "lagThreshhold")
			return objs
		},
		check: checkScaledObjects,
		want:  `metadata key "lagThreshhold" is not one`,
	}, {
		name: "KEDAMetadataValue",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "ScaledObject", "orders"), "enabled", "spec", "triggers", 0, "metadata", "tls")
			return objs
		},
		check: checkScaledObjects,
		want:  "tls=enabled",
	}, {
		name: "KEDAWrongGroup",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "ScaledObject", "payments"), "orders", "spec", "triggers", 0, "metadata", "consumerGroup")
			return objs
		},
		check: checkScaledObjects,
		want:  "Deployment payments consumes orders.events with group payments",
	}, {
		name: "KEDAAuthFromMissingVariable",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "TriggerAuthentication", "orders-kafka"), "KAFKA_USER", "spec", "env", 0, "name")
			return objs
		},
		check: checkScaledObjects,
		want:  `container "orders" of orders sets no KAFKA_USER`,
	}, {
		name: "AlertEdited",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, OfKind(objs, "PrometheusRule")[0], "5m", "spec", "groups", 0, "rules", 0, "for")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkPrometheusRule(r, objs) },
		want:  "differs from monitoring/alerts.yml",
	}, {
		name: "GatewayAdmittedToDatabase",
		mutate: func(t *testing.T, objs []Object) []Object {
			rules := Get(must(t, objs, "NetworkPolicy", "orders-db"), "spec", "ingress", 0, "from").([]any)
			set(t, must(t, objs, "NetworkPolicy", "orders-db"), append(rules, map[string]any{
				"podSelector": map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "gateway"}},
			}), "spec", "ingress", 0, "from")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkReachability(objs, reachability) },
		want:  "gateway -> orders-db:5432: allowed true, want false",
	}, {
		// The policies that select every pod: without them a pod no other
		// policy names (the migrations) takes any connection.
		name: "DefaultDenyDropped",
		mutate: func(t *testing.T, objs []Object) []Object {
			var out []Object
			for _, o := range objs {
				if o.Kind() != "NetworkPolicy" || o.Name() != "default-deny" && o.Name() != "metrics" {
					out = append(out, o)
				}
			}
			return out
		},
		check: func(t *testing.T, objs []Object) []error { return checkReachability(objs, reachability) },
		want:  "stranger -> orders-migrate:8080: allowed true, want false",
	}, {
		name: "ServiceOpenToItsPeer",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "NetworkPolicy", "orders"), map[string]any{}, "spec", "ingress", 0, "from", 0, "podSelector")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkReachability(objs, reachability) },
		want:  "payments -> orders:9101: allowed true, want false",
	}, {
		name: "KafkaListenerWithoutPeers",
		mutate: func(t *testing.T, objs []Object) []Object {
			delete(Get(must(t, objs, "Kafka", "shop"), "spec", "kafka", "listeners", 0).(map[string]any), "networkPolicyPeers")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkKafkaPeers(objs) },
		want:  "networkPolicyPeers []",
	}, {
		name: "ServiceWritesEvents",
		mutate: func(t *testing.T, objs []Object) []Object {
			u := must(t, objs, "KafkaUser", "orders")
			acls := Get(u, "spec", "authorization", "acls").([]any)
			set(t, u, append(acls, map[string]any{
				"resource":   map[string]any{"type": "topic", "name": "orders.", "patternType": "prefix"},
				"operations": []any{"Write"},
			}), "spec", "authorization", "acls")
			return objs
		},
		check: checkACLs,
		want:  "KafkaUser orders may Write topic orders.events",
	}, {
		name: "ServiceReadsWhatItDoesNotConsume",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "KafkaUser", "shopctl"), []any{"Read", "Describe"}, "spec", "authorization", "acls", 0, "operations")
			return objs
		},
		check: checkACLs,
		want:  "KafkaUser shopctl may read topic orders.events",
	}, {
		name: "ConsumerWithoutRead",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "KafkaUser", "payments"), "payments-v2", "spec", "authorization", "acls", 1, "resource", "name")
			return objs
		},
		check: checkACLs,
		want:  "KafkaUser payments may not read group payments",
	}, {
		name: "AdminOnLoopback",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "orders")["ORDERS_ADMIN_ADDR"] = "127.0.0.1:9111"
			return objs
		},
		check: checkPorts,
		want:  "ORDERS_ADMIN_ADDR=127.0.0.1:9111 listens on the loopback",
	}, {
		name: "ContainerPortElsewhere",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "payments")["PAYMENTS_GRPC_ADDR"] = "0.0.0.0:9202"
			return objs
		},
		check: checkPorts,
		want:  "container port grpc is 9102, the binary listens on 9202",
	}, {
		name: "ProbeOnServicePort",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "Deployment", "orders"), 9999, "spec", "template", "spec", "containers", 0, "readinessProbe", "grpc", "port")
			return objs
		},
		check: checkPorts,
		want:  "readinessProbe asks port 9999",
	}, {
		name: "WritableRoot",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "Job", "orders-migrate"), false, "spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFilesystem")
			return objs
		},
		check: checkHardening,
		want:  "Job orders-migrate container migrate: root filesystem not read-only",
	}, {
		name: "NoLimits",
		mutate: func(t *testing.T, objs []Object) []Object {
			delete(Get(must(t, objs, "Deployment", "gateway"), "spec", "template", "spec", "containers", 0, "resources").(map[string]any), "limits")
			return objs
		},
		check: checkHardening,
		want:  "container gateway: no cpu limits",
	}, {
		name: "ReplicasBesideAutoscaler",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "Deployment", "payments"), 3, "spec", "replicas")
			return objs
		},
		check: checkHardening,
		want:  "Deployment payments: sets replicas",
	}, {
		name: "NoDisruptionBudget",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "PodDisruptionBudget", "orders"), "order", "spec", "selector", "matchLabels", "app.kubernetes.io/name")
			return objs
		},
		check: checkHardening,
		want:  "Deployment orders: no PodDisruptionBudget",
	}, {
		name: "BrokerMisspelt",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "orders")["KAFKA_BROKERS"] = "shop-kafka-bootstrap:9092"
			return objs
		},
		check: checkAddresses,
		want:  "broker shop-kafka-bootstrap:9092 is no Kafka listener",
	}, {
		name: "BrokerWithoutTLS",
		mutate: func(t *testing.T, objs []Object) []Object {
			delete(configMap(t, objs, "payments"), "KAFKA_TLS_CA_FILE")
			return objs
		},
		check: checkAddresses,
		want:  "the client's TLS is false",
	}, {
		name: "KEDAWithoutSCRAM",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "ScaledObject", "orders"), "plaintext", "spec", "triggers", 0, "metadata", "sasl")
			return objs
		},
		check: checkAddresses,
		want:  "the client's SCRAM-SHA-512 is false",
	}, {
		name: "ConnectURLMisspelt",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "orders")["CONNECT_URL"] = "http://shop-connect-api:8083"
			return objs
		},
		check: checkAddresses,
		want:  "CONNECT_URL http://shop-connect-api:8083 is no KafkaConnect REST API",
	}, {
		name: "BackendPortWrong",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "gateway")["PAYMENTS_GRPC_ADDR"] = "dns:///payments:9101"
			return objs
		},
		check: checkAddresses,
		want:  "PAYMENTS_GRPC_ADDR dns:///payments:9101 is no Service port",
	}, {
		name: "AuditRunsOnce",
		mutate: func(t *testing.T, objs []Object) []Object {
			configMap(t, objs, "shop-audit")["AUDIT_INTERVAL"] = "0s"
			return objs
		},
		check: checkEnv,
		want:  "AUDIT_INTERVAL is 0",
	}, {
		name: "SingletonRollsOver",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "Deployment", "shop-audit"), "RollingUpdate", "spec", "strategy", "type")
			return objs
		},
		check: checkHardening,
		want:  "Deployment shop-audit: one replica without strategy Recreate",
	}, {
		name: "AuditAdmittedToKafka",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "NetworkPolicy", "kafka-clients"), map[string]any{"app.kubernetes.io/name": "shop-audit"},
				"spec", "ingress", 0, "from", 0, "podSelector", "matchLabels")
			return objs
		},
		check: func(t *testing.T, objs []Object) []error { return checkReachability(objs, reachability) },
		want:  "shop-audit -> kafka:9093: allowed true, want false",
	}, {
		name: "AuditConnectsAsService",
		mutate: func(t *testing.T, objs []Object) []Object {
			set(t, must(t, objs, "Deployment", "shop-audit"), "orders-db-app",
				"spec", "template", "spec", "containers", 0, "env", 0, "valueFrom", "secretKeyRef", "name")
			return objs
		},
		check: checkRoles,
		want:  "role orders_app of orders-db, want shop_audit of orders-db",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			if errs := tc.check(t, overlay(t, "dev")); len(errs) != 0 {
				t.Fatalf("the intact overlay already fails: %v", errs)
			}
			errs := tc.check(t, tc.mutate(t, overlay(t, "dev")))
			for _, err := range errs {
				if strings.Contains(err.Error(), tc.want) {
					return
				}
			}
			t.Errorf("broken overlay: got %v, want an error containing %q", errs, tc.want)
		})
	}
}
