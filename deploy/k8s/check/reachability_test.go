package check

import (
	"fmt"
	"reflect"
	"testing"
)

// outside are pods of other namespaces, labelled as their installations
// label them: the ingress controller, Prometheus, the operators, and a
// stranger (any other workload of the cluster).
var outside = map[string]Pod{
	"ingress":       {Namespace: "ingress-nginx", Labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx"}},
	"prometheus":    {Namespace: "monitoring", Labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	"cnpg-operator": {Namespace: "cnpg-system", Labels: map[string]string{"app.kubernetes.io/name": "cloudnative-pg"}},
	"keda":          {Namespace: "keda", Labels: map[string]string{"app": "keda-operator"}},
	"stranger":      {Namespace: "default", Labels: map[string]string{"app": "stranger"}},
}

// path is one row of the reachability table: can from open a TCP
// connection to port on to?
type path struct {
	from, to string
	port     int
	want     bool
}

// reachability is the table the network policies must produce: the paths
// of DESIGN.md's picture are open, every other one tried here is refused.
var reachability = []path{
	{"ingress", "gateway", 8080, true},
	{"stranger", "gateway", 8080, false},
	{"ingress", "orders", 9101, false},
	{"gateway", "orders", 9101, true},
	{"gateway", "payments", 9102, true},
	{"payments", "orders", 9101, false},
	{"orders", "payments", 9102, false},
	{"stranger", "orders", 9101, false},
	{"keda", "orders", 9101, false},
	{"gateway", "orders-db", 5432, false},
	{"gateway", "payments-db", 5432, false},
	{"orders", "orders-db", 5432, true},
	{"orders", "payments-db", 5432, false},
	{"payments", "payments-db", 5432, true},
	{"payments", "orders-db", 5432, false},
	{"connect", "orders-db", 5432, true},
	{"connect", "payments-db", 5432, true},
	{"orders-migrate", "orders-db", 5432, true},
	{"orders-migrate", "payments-db", 5432, false},
	{"payments-migrate", "payments-db", 5432, true},
	{"payments-migrate", "orders-db", 5432, false},
	{"cnpg-operator", "orders-db", 8000, true},
	{"cnpg-operator", "payments-db", 5432, true},
	{"orders-db", "orders-db", 5432, true},
	{"payments-db", "orders-db", 5432, false},
	{"stranger", "orders-db", 5432, false},
	{"kafka", "orders-db", 5432, false},
	{"orders", "kafka", 9093, true},
	{"payments", "kafka", 9093, true},
	{"connect", "kafka", 9093, true},
	{"keda", "kafka", 9093, true},
	{"gateway", "kafka", 9093, false},
	{"orders-migrate", "kafka", 9093, false},
	{"stranger", "kafka", 9093, false},
	// Connect's REST API may reconfigure any connector: no workload of the
	// shop reaches it (the services read their connector's health from
	// their own replication slot).
	{"orders", "connect", 8083, false},
	{"payments", "connect", 8083, false},
	{"gateway", "connect", 8083, false},
	{"stranger", "connect", 8083, false},
	{"prometheus", "orders", 9111, true},
	{"prometheus", "gateway", 9110, true},
	{"prometheus", "connect", 9404, true},
	{"prometheus", "orders-db", 9187, true},
	{"prometheus", "orders-db", 5432, false},
	{"prometheus", "orders", 9101, false},
	{"gateway", "orders", 9111, false},
	{"stranger", "orders-migrate", 8080, false},
	{"shop-audit", "orders-db", 5432, true},
	{"shop-audit", "payments-db", 5432, true},
	{"shop-audit", "kafka", 9093, false},
	{"shop-audit", "connect", 8083, false},
	{"gateway", "shop-audit", 9119, false},
	{"stranger", "shop-audit", 9119, false},
	{"prometheus", "shop-audit", 9119, true},
	{"prometheus", "connect", 8083, false},
}

// checkReachability computes each path of table from the overlay's
// NetworkPolicies and reports those whose answer differs.
func checkReachability(objs []Object, table []path) []error {
	pods := Pods(objs)
	for name, p := range outside {
		pods[name] = p
	}
	var errs []error
	for _, p := range table {
		from, ok1 := pods[p.from]
		to, ok2 := pods[p.to]
		if !ok1 || !ok2 {
			errs = append(errs, fmt.Errorf("%s -> %s: no such pod in the manifests", p.from, p.to))
			continue
		}
		got, err := Allowed(objs, from, to, p.port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != p.want {
			errs = append(errs, fmt.Errorf("%s -> %s:%d: allowed %v, want %v", p.from, p.to, p.port, got, p.want))
		}
	}
	return errs
}

// checkKafkaPeers checks that the peers Strimzi's generated policy admits
// to each Kafka listener (networkPolicyPeers) are the peers of the
// kafka-clients policy: the reachability table is computed from the latter,
// and Strimzi admits everyone to a listener without peers.
func checkKafkaPeers(objs []Object) []error {
	np := Find(objs, "NetworkPolicy", "kafka-clients")
	if np == nil {
		return []error{fmt.Errorf("no NetworkPolicy kafka-clients")}
	}
	want, _ := Get(np, "spec", "ingress", 0, "from").([]any)
	var errs []error
	for _, k := range OfKind(objs, "Kafka") {
		listeners, _ := Get(k, "spec", "kafka", "listeners").([]any)
		for _, l := range listeners {
			got, _ := Get(l, "networkPolicyPeers").([]any)
			if !reflect.DeepEqual(got, want) {
				errs = append(errs, fmt.Errorf("Kafka %s listener %v: networkPolicyPeers %v, NetworkPolicy kafka-clients admits %v", k.Name(), Get(l, "name"), got, want))
			}
		}
	}
	return errs
}

// TestNetworkReachability checks every overlay's network policies against
// the reachability table, and the Kafka listeners' peers against them.
func TestNetworkReachability(t *testing.T) {
	for _, name := range Overlays {
		t.Run(name, func(t *testing.T) {
			objs := overlay(t, name)
			report(t, name, checkReachability(objs, reachability))
			report(t, name, checkKafkaPeers(objs))
		})
	}
}
