package check

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// endpoints returns the host:port names the manifests serve, each with what
// a client must do there: the Services' ports (""), each Kafka listener's
// bootstrap ("kafka tls scram-sha-512", say) and each KafkaConnect's REST API
// ("connect"). A name is the in-namespace one; name.<ns>.svc and
// name.<ns>.svc.cluster.local are the same endpoint.
func endpoints(objs []Object) map[string]string {
	out := map[string]string{}
	for _, s := range OfKind(objs, "Service") {
		ports, _ := Get(s, "spec", "ports").([]any)
		for _, p := range ports {
			n, _ := AsInt(Get(p, "port"))
			out[s.Name()+":"+strconv.Itoa(n)] = ""
		}
	}
	for _, k := range OfKind(objs, "Kafka") {
		listeners, _ := Get(k, "spec", "kafka", "listeners").([]any)
		for _, l := range listeners {
			n, _ := AsInt(Get(l, "port"))
			how := "kafka"
			if Get(l, "tls") == true {
				how += " tls"
			}
			if a, _ := Get(l, "authentication", "type").(string); a != "" {
				how += " " + a
			}
			out[k.Name()+"-kafka-bootstrap:"+strconv.Itoa(n)] = how
		}
	}
	for _, c := range OfKind(objs, "KafkaConnect") {
		out[c.Name()+"-connect-api:8083"] = "connect"
	}
	return out
}

// resolve returns what the endpoint hostport is served by, false when the
// manifests serve no such endpoint.
func resolve(eps map[string]string, ns, hostport string) (string, bool) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", false
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, ".svc.cluster.local"), ".svc")
	host = strings.TrimSuffix(host, "."+ns)
	how, ok := eps[host+":"+port]
	return how, ok
}

// checkAddresses checks that every address a program or KEDA is given is
// an endpoint of the manifests, reached the way it is served: the Kafka
// brokers (TLS with the CA, SCRAM with a user), Kafka Connect's REST API,
// the services' gRPC ports. A misspelt Service name passes every schema.
func checkAddresses(_ *testing.T, objs []Object) []error {
	eps := endpoints(objs)
	var errs []error
	kafka := func(where, ns, brokers string, tls, scram bool) {
		for _, b := range strings.Split(brokers, ",") {
			how, ok := resolve(eps, ns, strings.TrimSpace(b))
			switch {
			case !ok || !strings.HasPrefix(how, "kafka"):
				errs = append(errs, fmt.Errorf("%s: broker %s is no Kafka listener of the manifests", where, b))
			case strings.Contains(how, " tls") != tls:
				errs = append(errs, fmt.Errorf("%s: broker %s is %s, the client's TLS is %v", where, b, how, tls))
			case strings.Contains(how, "scram-sha-512") != scram:
				errs = append(errs, fmt.Errorf("%s: broker %s is %s, the client's SCRAM-SHA-512 is %v", where, b, how, scram))
			}
		}
	}
	for _, d := range append(OfKind(objs, "Deployment"), OfKind(objs, "Job")...) {
		ns, _ := Get(d, "metadata", "namespace").(string)
		containers, _ := Get(d, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			where := d.Kind() + " " + d.Name()
			env, err := containerEnv(objs, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			for _, k := range sortedKeys(env) {
				v := env[k]
				switch {
				case k == "KAFKA_BROKERS":
					kafka(where, ns, v, env["KAFKA_TLS_CA_FILE"] != "", env["KAFKA_SASL_USERNAME"] != "")
				case k == "CONNECT_URL":
					u, err := url.Parse(v)
					if how, ok := resolve(eps, ns, u.Host); err != nil || !ok || how != "connect" {
						errs = append(errs, fmt.Errorf("%s: CONNECT_URL %s is no KafkaConnect REST API of the manifests", where, v))
					}
				case strings.HasSuffix(k, "_GRPC_ADDR") && d.Name() == "gateway":
					target := strings.TrimPrefix(v, "dns:///")
					if how, ok := resolve(eps, ns, target); !ok || how != "" {
						errs = append(errs, fmt.Errorf("%s: %s %s is no Service port of the manifests", where, k, v))
					}
				}
			}
		}
	}
	for _, so := range OfKind(objs, "ScaledObject") {
		ns, _ := Get(so, "metadata", "namespace").(string)
		triggers, _ := Get(so, "spec", "triggers").([]any)
		for _, tr := range triggers {
			if Get(tr, "type") != "kafka" {
				continue
			}
			md := Get(tr, "metadata")
			brokers, _ := Get(md, "bootstrapServers").(string)
			kafka("ScaledObject "+so.Name(), ns, brokers, Get(md, "tls") == "enable", Get(md, "sasl") == "scram_sha512")
		}
	}
	return errs
}

// TestAddressesResolve checks every overlay's addresses (checkAddresses).
func TestAddressesResolve(t *testing.T) {
	forEachOverlay(t, checkAddresses)
}
