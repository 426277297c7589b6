package check

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// listenVars are the listen-address variables behind each named container
// port, by the port's name: the binary that serves the port reads one of
// them.
var listenVars = map[string][]string{
	"grpc":  {"ORDERS_GRPC_ADDR", "PAYMENTS_GRPC_ADDR"},
	"admin": {"GATEWAY_ADMIN_ADDR", "ORDERS_ADMIN_ADDR", "PAYMENTS_ADMIN_ADDR", "AUDIT_ADMIN_ADDR"},
	"http":  {"GATEWAY_HTTP_ADDR"},
}

// listenPort returns the port of the address the container's binary
// listens on for the container port named name, from the variable of
// listenVars it sets; the address must not be the loopback, which no probe
// or peer reaches.
func listenPort(bin binary, env map[string]string, name string) (int, error) {
	for _, v := range listenVars[name] {
		if !bin.reads[v] {
			continue
		}
		addr, ok := env[v]
		if !ok {
			return 0, fmt.Errorf("port %s: %s is not set, and its default listens on the loopback", name, v)
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, fmt.Errorf("port %s: %s=%s: %w", name, v, addr, err)
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return 0, fmt.Errorf("port %s: %s=%s listens on the loopback, unreachable from outside the pod", name, v, addr)
		}
		return strconv.Atoi(port)
	}
	return 0, fmt.Errorf("port %s: the binary reads none of %s", name, strings.Join(listenVars[name], ", "))
}

// checkPorts checks that each Deployment's named container ports are the
// ports its binary listens on, that its probes ask those ports, and that
// each Service's target port is a port of the pods it selects.
func checkPorts(t *testing.T, objs []Object) []error {
	bins := binaries(t)
	var errs []error
	for _, dep := range OfKind(objs, "Deployment") {
		containers, _ := Get(dep, "spec", "template", "spec", "containers").([]any)
		for _, c := range containers {
			where := "Deployment " + dep.Name()
			env, err := containerEnv(objs, c)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			ports := map[string]int{}
			open := map[int]bool{}
			list, _ := Get(c, "ports").([]any)
			for _, p := range list {
				name, _ := Get(p, "name").(string)
				n, _ := AsInt(Get(p, "containerPort"))
				ports[name], open[n] = n, true
				want, err := listenPort(bins[dep.Name()], env, name)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				} else if want != n {
					errs = append(errs, fmt.Errorf("%s: container port %s is %d, the binary listens on %d", where, name, n, want))
				}
			}
			for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
				pr := Get(c, probe)
				if pr == nil {
					errs = append(errs, fmt.Errorf("%s: no %s", where, probe))
					continue
				}
				var port any
				for _, kind := range []string{"grpc", "httpGet", "tcpSocket"} {
					if p := Get(pr, kind, "port"); p != nil {
						port = p
					}
				}
				n, ok := AsInt(port)
				if s, isName := port.(string); isName {
					n, ok = ports[s]
				}
				if !ok || !open[n] {
					errs = append(errs, fmt.Errorf("%s: %s asks port %v, which the container does not listen on", where, probe, port))
				}
			}
		}
	}
	pods := Pods(objs)
	for _, svc := range OfKind(objs, "Service") {
		sel, _ := Get(svc, "spec", "selector").(map[string]any)
		var target *Pod
		for _, p := range pods {
			if ok, _ := matches(map[string]any{"matchLabels": sel}, p.Labels); ok && len(p.Ports) > 0 {
				target = &p
			}
		}
		if target == nil {
			errs = append(errs, fmt.Errorf("Service %s selects no pod of the manifests", svc.Name()))
			continue
		}
		list, _ := Get(svc, "spec", "ports").([]any)
		for _, p := range list {
			tp := Get(p, "targetPort")
			if name, ok := tp.(string); ok {
				if _, ok := target.Ports[name]; !ok {
					errs = append(errs, fmt.Errorf("Service %s: targetPort %s is no port of its pods", svc.Name(), name))
				}
			}
		}
	}
	return errs
}

// TestPortsMatchConfig checks every overlay's ports and probes
// (checkPorts).
func TestPortsMatchConfig(t *testing.T) {
	forEachOverlay(t, checkPorts)
}
