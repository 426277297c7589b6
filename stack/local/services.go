package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"shop/service"
	"shop/service/pki"
)

// Build builds the commands of services (Orders, Payments, NameGateway,
// NameAudit) into bin, from the Go workspace that holds root (the working
// directory when empty), and returns their paths by service.
func Build(ctx context.Context, root, bin string, log *slog.Logger, services ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, svc := range services {
		pkg := "shop/" + svc + "/cmd/" + svc
		if svc == NameAudit {
			pkg = auditPackage
		}
		log.Info("building "+svc, "package", pkg)
		path := filepath.Join(bin, svc)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", path, pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %w\n%s", svc, err, b)
		}
		out[svc] = path
	}
	return out, nil
}

// serviceGOMAXPROCS is the GOMAXPROCS of every service process unless the
// environment sets one. The services share two cores with Postgres, Kafka
// and Kafka Connect, and each of them needs a fraction of one: with one P
// the Go scheduler has no idle P to wake and spin for each goroutine that
// becomes runnable (a socket read, a channel send), which cost the
// services 5 to 15 % of their CPU per order (docs/performance.md, "How `make run`
// shares the cores"). A service that needs more than a core gets more instances
// (OrdersInstances, PaymentsInstances) or a GOMAXPROCS of its own.
const serviceGOMAXPROCS = "1"

// serviceRuntimeEnv is the Go runtime's settings for a service process:
// GOMAXPROCS=serviceGOMAXPROCS unless lookup (the environment the service
// inherits) has GOMAXPROCS, which then stands.
func serviceRuntimeEnv(lookup func(string) (string, bool)) []string {
	if _, ok := lookup("GOMAXPROCS"); ok {
		return nil
	}
	return []string{"GOMAXPROCS=" + serviceGOMAXPROCS}
}

// Wiring is where an instance of orders or payments listens and what it
// connects to: the variables of its environment that the system sets.
type Wiring struct {
	// GRPCAddr and AdminAddr are its listen addresses (host:port).
	GRPCAddr, AdminAddr string
	// DatabaseURL is its database, as its runtime role.
	DatabaseURL string
	// Kafka is the brokers and the instance's principal.
	Kafka  service.Kafka
	Topics service.Topics
	// GRPC is its gRPC transport security: the certificate variables of
	// its identity (pki.Identity.Environ), or GRPC_INSECURE=true.
	GRPC []string
	// There is no Kafka Connect here: a service never talks to it and is
	// given no REST credential (docs/security.md).
}

// Environ renders w as the environment of an instance of svc (Orders or
// Payments), such as ORDERS_GRPC_ADDR=127.0.0.1:9101.
func (w Wiring) Environ(svc string) []string {
	prefix := strings.ToUpper(svc) + "_"
	return append(append([]string{"KAFKA_BROKERS=" + strings.Join(w.Kafka.Brokers, ","),
		"ORDERS_TOPIC=" + w.Topics.Orders, "PAYMENTS_TOPIC=" + w.Topics.Payments,
		grpcAddrVar(svc) + "=" + w.GRPCAddr, prefix + "ADMIN_ADDR=" + w.AdminAddr, prefix + "DATABASE_URL=" + w.DatabaseURL},
		KafkaEnviron(w.Kafka)...), w.GRPC...)
}

// KafkaEnviron renders k's credentials as the variables service.Kafka
// reads, each one set (empty when k has none) so that nothing inherited
// mixes in.
func KafkaEnviron(k service.Kafka) []string {
	return []string{"KAFKA_SASL_USERNAME=" + k.SASLUsername, "KAFKA_SASL_PASSWORD_FILE=" + k.SASLPasswordFile,
		"KAFKA_SASL_PASSWORD=" + string(k.SASLPassword), "KAFKA_TLS_CA_FILE=" + k.TLSCAFile}
}

// grpcAddrVar is the variable of svc's gRPC listen address.
func grpcAddrVar(svc string) string { return strings.ToUpper(svc) + "_GRPC_ADDR" }

// startServices starts the instances of orders and payments, then the
// gateway, and waits until the gateway is ready.
func (s *System) startServices(ctx context.Context, binaries map[string]string) error {
	logs := filepath.Join(s.cfg.DataDir, "logs")
	runtimeEnv := serviceRuntimeEnv(os.LookupEnv)
	ids, err := pki.Ensure(PKIDir(s.cfg.DataDir), PKIIdentities...)
	if err != nil {
		return fmt.Errorf("gRPC certificates: %w", err)
	}
	for _, svc := range []struct {
		name              string
		addrs, adminAddrs []string
	}{
		{Orders, s.OrdersAddrs, s.OrdersAdminAddrs},
		{Payments, s.PaymentsAddrs, s.PaymentsAdminAddrs},
	} {
		for i, addr := range svc.addrs {
			w := Wiring{GRPCAddr: addr, AdminAddr: svc.adminAddrs[i], DatabaseURL: s.ServiceURL(svc.name),
				Kafka: s.Kafka(svc.name), Topics: s.cfg.Topics, GRPC: ids[svc.name].Environ()}
			env := append(append(slices.Clone(runtimeEnv), s.cfg.Env...), w.Environ(svc.name)...)
			c := ServiceComponent(InstanceName(svc.name, i+1), binaries[svc.name], logs, env, TCPReady(addr), NamePostgres, NameKafka)
			if err := s.Start(ctx, freeFirst(c, addr, grpcAddrVar(svc.name))); err != nil {
				return err
			}
		}
	}
	authEnv, err := s.gatewayAuthEnv()
	if err != nil {
		return err
	}
	env := append(append(append(append(slices.Clone(runtimeEnv), s.cfg.Env...), authEnv...), ids[NameGateway].Environ()...),
		"GATEWAY_HTTP_ADDR="+s.GatewayAddr, "GATEWAY_ADMIN_ADDR="+s.GatewayAdminAddr,
		"ORDERS_GRPC_ADDR="+strings.Join(s.OrdersAddrs, ","), "PAYMENTS_GRPC_ADDR="+strings.Join(s.PaymentsAddrs, ","))
	// Alive is enough to count as started: /readyz depends on the backends,
	// and a gateway restarted while one is down must not count as failed.
	gw := ServiceComponent(NameGateway, binaries[NameGateway], logs, env, HTTPReady(s.GatewayURL()+"/healthz"))
	if err := s.Start(ctx, freeFirst(gw, s.GatewayAddr, "GATEWAY_HTTP_ADDR")); err != nil {
		return err
	}
	if err := s.startAudit(ctx, binaries[NameAudit], runtimeEnv); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	ready := HTTPReady(s.GatewayURL() + "/readyz")
	for {
		err := ready(wctx)
		if err == nil {
			return nil
		}
		select {
		case <-wctx.Done():
			return &StartError{Component: NameGateway, Err: fmt.Errorf("/readyz: %w", errors.Join(err, wctx.Err()))}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freeFirst makes each start of c check first that its listen address is
// free: with the address taken by a stranger, the readiness check would
// talk to the stranger.
func freeFirst(c Component, addr, env string) Component {
	start := c.Start
	c.Start = func(ctx context.Context) (*Process, error) {
		if err := CheckAddr(c.Name, addr, env); err != nil {
			return nil, err
		}
		return start(ctx)
	}
	return c
}

// ServiceComponent is one of the shop's own Go services as a Component:
// binary runs with env added to this process's environment and its output
// in logDir/name.log; it is ready when ready (TCPReady, HTTPReady)
// succeeds, within a minute, and stops gracefully on SIGTERM within 20 s.
func ServiceComponent(name, binary, logDir string, env []string, ready func(context.Context) error, dependsOn ...string) Component {
	return Component{
		Name: name,
		Start: func(context.Context) (*Process, error) {
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				return nil, err
			}
			return startProcess(name, filepath.Join(logDir, name+".log"), procOptions{env: env, dir: "/"}, binary)
		},
		Ready:        ready,
		ReadyTimeout: time.Minute,
		StopSignal:   syscall.SIGTERM,
		StopGrace:    20 * time.Second,
		DependsOn:    dependsOn,
	}
}

// TCPReady is a readiness check that succeeds once addr accepts connections.
func TCPReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTPReady is a readiness check that succeeds once url answers 200.
func HTTPReady(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}
