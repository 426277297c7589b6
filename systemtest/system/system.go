// Package system starts the whole shop for one test: the orders and payments
// services, each with its own database, the Debezium outbox connectors that
// route each outbox to a fresh topic, and the gateway in front, all on the
// real infrastructure of shop/stack/stacktest. The system tests and the
// gateway's end-to-end test start it the same way, through Start.
package system

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gateway "shop/gateway/app"
	orders "shop/orders/app"
	payments "shop/payments/app"
	"shop/service"
	"shop/service/grpctls"
	"shop/service/pki"
	schema "shop/sql"
	"shop/stack/devissuer"
	"shop/stack/local"
	"shop/stack/stacktest"
)

// startTimeout bounds how long a service may take to serve.
const startTimeout = time.Minute

// Options select how Start assembles the system.
type Options struct {
	// PaymentsBinary, when set, runs the payments service as a separate OS
	// process from this binary (see BuildPayments), so that a test can
	// SIGKILL it; otherwise payments runs in the test process like the
	// other services.
	PaymentsBinary string
	// JWT runs the gateway in AUTH_MODE=jwt, verifying tokens of a
	// development issuer of the test's own (System.Token gives one);
	// otherwise the gateway trusts X-User-ID (AUTH_MODE=header).
	JWT bool
	// RateLimit, when set, replaces the gateway's default per-identity
	// rate limit (GATEWAY_RATE_LIMIT, GATEWAY_RATE_BURST); NoRateLimit
	// turns it off. A test that sends one user's requests faster than a
	// shopper would sets what it needs.
	RateLimit *RateLimit
}

// RateLimit is the gateway's per-identity rate limit: requests per second
// (0: none) and burst.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// NoRateLimit turns the gateway's per-identity rate limit off: for a test
// whose one user sends a flood on purpose (a race, a fuzzer).
var NoRateLimit = &RateLimit{Burst: 1}

// System is the whole backend of one test. Its fields are set by Start and
// read only afterwards.
type System struct {
	Env           *stacktest.Env
	OrdersDB      *stacktest.Database
	PaymentsDB    *stacktest.Database
	OrdersTopic   string
	PaymentsTopic string
	// URL is the gateway's base URL, such as http://127.0.0.1:41234.
	URL string
	// PaymentsAddr is the payments service's gRPC address.
	PaymentsAddr string
	// OrdersAddr is the orders service's gRPC address, for a test that runs
	// a gateway of its own.
	OrdersAddr string
	// Payments is the payments process; nil when payments runs in process.
	Payments *Process
	// OrdersGroup and PaymentsGroup are the services' Kafka consumer
	// groups.
	OrdersGroup, PaymentsGroup string

	// PKI are the gRPC certificates of the system's programs
	// (local.PKIIdentities), by name, made by a CA of the test's own (in
	// the directory above each identity's): the services take mutual TLS
	// from the gateway alone, as under `make run`.
	PKI map[string]pki.Identity

	services *services
	// issuer signs the tokens of Token; nil in header mode.
	issuer *devissuer.Key
}

// Token returns a bearer token for userID that the gateway of a system
// started with Options.JWT accepts. It fails the test in header mode.
func (s *System) Token(t *testing.T, userID string) string {
	t.Helper()
	if s.issuer == nil {
		t.Fatal("system.Token: the system runs in header mode; start it with Options{JWT: true}")
	}
	token, err := s.issuer.Token(devissuer.Claims{Subject: userID})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// Start assembles the system for the test t and returns once the gateway
// and both services serve. When the test ends, it stops the services and
// fails the test if one of them does not stop within 30 s or stopped with
// an error; the connectors, topics and databases go after them. Start fails
// the test when a service does not start within a minute, and skips it under
// -short.
func Start(t *testing.T, opts Options) *System {
	t.Helper()
	if testing.Short() {
		t.Skip("whole system: skipped with -short")
	}
	env := stacktest.Get(t)
	s := &System{
		Env:           env,
		OrdersDB:      env.NewDatabase(t, schema.Orders),
		PaymentsDB:    env.NewDatabase(t, schema.Payments),
		OrdersTopic:   env.NewTopic(t, "orders.events"),
		PaymentsTopic: env.NewTopic(t, "payments.events"),
		PaymentsAddr:  stacktest.FreeAddr(t),
	}
	ids, err := pki.Ensure(t.TempDir(), local.PKIIdentities...)
	if err != nil {
		t.Fatal(err)
	}
	s.PKI = ids
	ordersConnector := env.StartConnector(t, s.OrdersDB, s.OrdersTopic)
	paymentsConnector := env.StartConnector(t, s.PaymentsDB, s.PaymentsTopic)
	s.services = newServices(t)
	logger := stacktest.Logger()

	topics := service.Topics{Orders: s.OrdersTopic, Payments: s.PaymentsTopic}

	paymentsGroup := stacktest.Unique("payments-")
	s.PaymentsGroup = paymentsGroup
	if opts.PaymentsBinary != "" {
		// Wired as `make run` wires its instances, plus what is the test's own.
		w := local.Wiring{GRPCAddr: s.PaymentsAddr, AdminAddr: "127.0.0.1:0", DatabaseURL: s.PaymentsDB.URL,
			Kafka: env.Kafka(local.KafkaPayments), Topics: topics, GRPC: ids[local.Payments].Environ()}
		s.Payments = StartProcess(t, "payments", opts.PaymentsBinary, append(w.Environ(local.Payments),
			"PAYMENTS_CONSUMER_GROUP="+paymentsGroup,
			"PAYMENTS_SLOT="+s.PaymentsDB.Name,
			"PAYMENTS_CONNECTOR="+paymentsConnector,
			"LOG_LEVEL=info",
		)...)
	} else {
		cfg := payments.DefaultConfig()
		cfg.GRPC.Files = s.GRPCFiles(local.Payments)
		cfg.Endpoint = service.PaymentsEndpoint{GRPCAddr: s.PaymentsAddr}
		cfg.Admin.Addr = "127.0.0.1:0"
		cfg.DatabaseURL = service.DatabaseURL(s.PaymentsDB.URL)
		cfg.Kafka = env.Kafka(local.KafkaPayments)
		cfg.Topics = topics
		cfg.Slot.Name = s.PaymentsDB.Name // the test connector's slot is named after its database
		cfg.Connector.Name = paymentsConnector
		cfg.ConsumerGroup = paymentsGroup
		s.services.start("payments", func(ctx context.Context) error {
			return payments.Run(ctx, cfg, logger.With("service", "payments"))
		})
	}

	ocfg := orders.DefaultConfig()
	ocfg.GRPC.Files = s.GRPCFiles(local.Orders)
	ocfg.Endpoint = service.OrdersEndpoint{GRPCAddr: "127.0.0.1:0"}
	ocfg.Admin.Addr = "127.0.0.1:0"
	ocfg.DatabaseURL = service.DatabaseURL(s.OrdersDB.URL)
	ocfg.Kafka = env.Kafka(local.KafkaOrders)
	ocfg.Topics = topics
	ocfg.Slot.Name = s.OrdersDB.Name
	ocfg.Connector.Name = ordersConnector
	ocfg.ConsumerGroup = stacktest.Unique("orders-")
	s.OrdersGroup = ocfg.ConsumerGroup
	ordersAddr := make(chan string, 1)
	ocfg.Ready = func(addr string) { ordersAddr <- addr }
	s.services.start("orders", func(ctx context.Context) error {
		return orders.Run(ctx, ocfg, logger.With("service", "orders"))
	})

	gcfg := gateway.DefaultConfig()
	gcfg.GRPC.Files = s.GRPCFiles(local.NameGateway)
	gcfg.HTTPAddr = "127.0.0.1:0"
	gcfg.Admin.Addr = "127.0.0.1:0"
	gcfg.Payments = service.PaymentsEndpoint{GRPCAddr: s.PaymentsAddr}
	s.OrdersAddr = s.await(t, "orders", ordersAddr)
	gcfg.Orders = service.OrdersEndpoint{GRPCAddr: s.OrdersAddr}
	gcfg.Auth.Mode = service.AuthHeader
	if opts.RateLimit != nil {
		gcfg.RateLimit, gcfg.RateBurst = opts.RateLimit.PerSecond, opts.RateLimit.Burst
	}
	if opts.JWT {
		key, _, jwks, err := devissuer.Ensure(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s.issuer = key
		gcfg.Auth.Mode = service.AuthJWT
		gcfg.Auth.JWKSFile, gcfg.Auth.Issuer, gcfg.Auth.Audience = jwks, devissuer.Issuer, devissuer.Audience
	}
	s.WaitPaymentsServing(t)
	gatewayAddr := make(chan string, 1)
	gcfg.Ready = func(a net.Addr) { gatewayAddr <- a.String() }
	s.services.start("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gcfg, logger.With("service", "gateway"))
	})
	s.URL = "http://" + s.await(t, "gateway", gatewayAddr)
	return s
}

// GRPCFiles are the certificate files of the program name
// (local.PKIIdentities).
func (s *System) GRPCFiles(name string) grpctls.Files { return s.PKI[name].Files() }

// Dial returns a connection to the gRPC service at addr with the
// certificate of the program name, closed when the test ends.
func (s *System) Dial(t *testing.T, addr, name string) *grpc.ClientConn {
	t.Helper()
	creds, err := grpctls.ClientCredentials(grpctls.Client{Files: s.GRPCFiles(name)}, stacktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// await returns the address that the service name reports on ready, and
// fails the test when a service stops first or a minute passes.
func (s *System) await(t *testing.T, name string, ready <-chan string) string {
	t.Helper()
	select {
	case addr := <-ready:
		return addr
	case err := <-s.services.errs:
		t.Fatalf("a service failed to start: %v", err)
	case <-time.After(startTimeout):
		t.Fatalf("%s not ready in %s", name, startTimeout)
	}
	return ""
}

// WaitPaymentsServing waits until the payments gRPC server answers its
// health check with SERVING, as after a restart of the payments process. It
// fails the test when a service or the payments process stops first, or
// after a minute.
func (s *System) WaitPaymentsServing(t *testing.T) {
	t.Helper()
	client := healthpb.NewHealthClient(s.Dial(t, s.PaymentsAddr, local.NameGateway))
	stacktest.WaitForNil(t, startTimeout, "payments at "+s.PaymentsAddr+" serving", func() error {
		select {
		case err := <-s.services.errs:
			t.Fatalf("a service failed to start: %v", err)
		default:
		}
		if s.Payments != nil && s.Payments.Exited() {
			t.Fatalf("payments process exited: %v", s.Payments.Err())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("status %s", resp.GetStatus())
		}
		return nil
	})
}

// services runs in-process services until the test ends.
type services struct {
	ctx  context.Context
	wg   sync.WaitGroup
	errs chan error

	mu      sync.Mutex
	running map[string]bool
}

// newServices returns an empty group whose services are cancelled when t
// ends; the test then fails when one does not stop within 30 s or stopped
// with an error.
func newServices(t *testing.T) *services {
	ctx, cancel := context.WithCancel(context.Background())
	s := &services{ctx: ctx, errs: make(chan error, 8), running: map[string]bool{}}
	t.Cleanup(func() {
		cancel()
		stopped := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			s.mu.Lock()
			left := slices.Sorted(maps.Keys(s.running))
			s.mu.Unlock()
			t.Errorf("services not stopped 30s after cancel: %v", left)
		}
		for {
			select {
			case err := <-s.errs:
				t.Errorf("service stopped with: %v", err)
			default:
				return
			}
		}
	})
	return s
}

// start runs run in a goroutine; an error it returns arrives on s.errs.
func (s *services) start(name string, run func(context.Context) error) {
	s.mu.Lock()
	s.running[name] = true
	s.mu.Unlock()
	s.wg.Go(func() {
		err := run(s.ctx)
		s.mu.Lock()
		delete(s.running, name)
		s.mu.Unlock()
		if err != nil {
			s.errs <- fmt.Errorf("%s: %w", name, err)
		}
	})
}
