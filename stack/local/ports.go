package local

import (
	"fmt"
	"net"
	"strconv"
)

// assignAddrs fills the instances' and the gateway's addresses and checks
// that each is free.
func (s *System) assignAddrs() error {
	cfg := s.cfg
	orders, payments := max(cfg.OrdersInstances, 1), max(cfg.PaymentsInstances, 1)
	var err error
	if s.GatewayAddr, err = orFreeAddr(cfg.GatewayAddr); err != nil {
		return err
	}
	s.OrdersAddrs, s.PaymentsAddrs, err = assignInstanceAddrs(s.GatewayAddr, cfg.OrdersAddr, cfg.PaymentsAddr, orders, payments)
	if err != nil {
		return err
	}
	if s.GatewayAdminAddr, err = orFreeAddr(cfg.GatewayAdminAddr); err != nil {
		return err
	}
	if s.AuditAdminAddr, err = orFreeAddr(cfg.AuditAdminAddr); err != nil {
		return err
	}
	inUse := append(append([]string{s.GatewayAddr, s.GatewayAdminAddr, s.AuditAdminAddr,
		"127.0.0.1:" + strconv.Itoa(cfg.KafkaMetricsPort), "127.0.0.1:" + strconv.Itoa(cfg.ConnectMetricsPort)},
		s.OrdersAddrs...), s.PaymentsAddrs...)
	s.OrdersAdminAddrs, s.PaymentsAdminAddrs, err = assignAdminAddrs(cfg.OrdersAdminAddr, cfg.PaymentsAdminAddr, orders, payments, inUse)
	if err != nil {
		return err
	}
	checks := []struct{ name, addr, env string }{
		{NameGateway, s.GatewayAddr, "GATEWAY_HTTP_ADDR"},
		{NameGateway + " admin", s.GatewayAdminAddr, "GATEWAY_ADMIN_ADDR"},
		{NameAudit + " admin", s.AuditAdminAddr, "AUDIT_ADMIN_ADDR"},
	}
	for i, a := range s.OrdersAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Orders, i+1), a, "ORDERS_GRPC_ADDR, ORDERS_INSTANCES"})
	}
	for i, a := range s.PaymentsAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Payments, i+1), a, "PAYMENTS_GRPC_ADDR, PAYMENTS_INSTANCES"})
	}
	for i, a := range s.OrdersAdminAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Orders, i+1) + " admin", a, "ORDERS_ADMIN_ADDR, ORDERS_INSTANCES"})
	}
	for i, a := range s.PaymentsAdminAddrs {
		checks = append(checks, struct{ name, addr, env string }{InstanceName(Payments, i+1) + " admin", a, "PAYMENTS_ADMIN_ADDR, PAYMENTS_INSTANCES"})
	}
	for _, c := range checks {
		if err := CheckAddr(c.name, c.addr, c.env); err != nil {
			return err
		}
	}
	return nil
}

// assignInstanceAddrs returns the gRPC listen addresses of the services'
// instances, as SystemConfig describes them.
func assignInstanceAddrs(gateway, orders, payments string, nOrders, nPayments int) (o, p []string, err error) {
	return consecutiveAddrs("GRPC_ADDR", orders, payments, nOrders, nPayments, []string{gateway})
}

// assignAdminAddrs returns the admin listen addresses of the services'
// instances, as SystemConfig describes them.
func assignAdminAddrs(orders, payments string, nOrders, nPayments int, inUse []string) (o, p []string, err error) {
	return consecutiveAddrs("ADMIN_ADDR", orders, payments, nOrders, nPayments, inUse)
}

// consecutiveAddrs returns listen addresses of the services' instances,
// consecutive from each first address, skipping both first addresses and
// the ports of inUse. The errors name the variables ORDERS_<suffix> and
// PAYMENTS_<suffix>.
func consecutiveAddrs(suffix, orders, payments string, nOrders, nPayments int, inUse []string) (o, p []string, err error) {
	taken := map[int]bool{}
	for _, a := range append([]string{orders, payments}, inUse...) {
		if _, port, err := net.SplitHostPort(a); err == nil {
			n, _ := strconv.Atoi(port)
			taken[n] = true
		}
	}
	if o, err = instanceAddrs("ORDERS_"+suffix, orders, nOrders, taken); err != nil {
		return nil, nil, err
	}
	if p, err = instanceAddrs("PAYMENTS_"+suffix, payments, nPayments, taken); err != nil {
		return nil, nil, err
	}
	return o, p, nil
}

// orFreeAddr returns addr, or when it is empty a free port on 127.0.0.1.
func orFreeAddr(addr string) (string, error) {
	if addr != "" {
		return addr, nil
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// instanceAddrs returns n listen addresses from first on: first, then the
// following ports not in taken, which it marks. An empty first gives free
// ports on 127.0.0.1.
func instanceAddrs(env, first string, n int, taken map[int]bool) ([]string, error) {
	var addrs []string
	if first == "" {
		for range n {
			addr, err := orFreeAddr("")
			if err != nil {
				return nil, err
			}
			addrs = append(addrs, addr)
		}
		return addrs, nil
	}
	host, p, err := net.SplitHostPort(first)
	if err != nil {
		return nil, fmt.Errorf("%s %q: want host:port to listen on: %w", env, first, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("%s %q: want a port from 1 to 65535", env, first)
	}
	addrs = append(addrs, first)
	for port++; len(addrs) < n; port++ {
		if port > 65535 {
			return nil, fmt.Errorf("%s %q: not enough ports above it for %d instances", env, first, n)
		}
		if taken[port] {
			continue
		}
		taken[port] = true
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return addrs, nil
}

// checkPorts reports the first port of the infrastructure that is taken,
// by the component's name and variable.
func (cfg Config) checkPorts() error {
	for _, p := range []struct {
		component, env string
		port           int
	}{
		{"postgres", "POSTGRES_PORT", cfg.PostgresPort},
		{"kafka", "KAFKA_PORT", cfg.KafkaPort},
		{"kafka controller", "KAFKA_CONTROLLER_PORT", cfg.ControllerPort},
		{"kafka connect", "CONNECT_PORT", cfg.ConnectPort},
		{"kafka metrics", "KAFKA_METRICS_PORT", cfg.KafkaMetricsPort},
		{"kafka connect metrics", "CONNECT_METRICS_PORT", cfg.ConnectMetricsPort},
	} {
		if p.port == 0 {
			continue
		}
		if err := checkPort(p.component, p.port, p.env); err != nil {
			return err
		}
	}
	return nil
}

// PortInUseError names the component whose port is taken.
type PortInUseError struct {
	Component string
	Port      int
	EnvVar    string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d for %s is already in use; free it or choose another with %s", e.Port, e.Component, e.EnvVar)
}

// CheckAddr reports a taken listen address (host:port) by the component's name.
func CheckAddr(component, addr, envVar string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("address %s for %s is already in use or not available; free it or choose another with %s", addr, component, envVar)
	}
	return l.Close()
}

// checkPort reports a taken port by the component's name.
func checkPort(component string, port int, envVar string) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return &PortInUseError{Component: component, Port: port, EnvVar: envVar}
	}
	return l.Close()
}

// FreePort returns a TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
