package app_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"shop/orders/app"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "shop" {
			return info.GetReason()
		}
	}
	return ""
}

// TestRunEndToEnd starts the service in-process against real Postgres and
// Kafka, calls it over gRPC, feeds it a payment result and stops it.
func TestRunEndToEnd(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	topic := env.NewTopic(t, "payments-e2e")

	cfg := app.DefaultConfig()
	cfg.GRPC.Insecure = true // plaintext: the TLS hops are the gateway's and the system tests'
	cfg.Endpoint.GRPCAddr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.DatabaseURL = service.DatabaseURL(db.URL)
	cfg.Kafka = env.Kafka(local.KafkaOrders)
	cfg.Topics.Payments = topic
	cfg.ConsumerGroup = stacktest.Unique("orders-e2e-")
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, stacktest.Logger()) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("not ready after 60s")
	}

	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ordersv1.NewOrderServiceClient(conn)
	callCtx, callCancel := context.WithTimeout(ctx, 90*time.Second)
	defer callCancel()

	for _, svc := range []string{"", "orders.v1.OrderService"} {
		hr, err := healthpb.NewHealthClient(conn).Check(callCtx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || hr.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: got %v, %v; want SERVING", svc, hr.GetStatus(), err)
		}
	}

	req := &ordersv1.CreateOrderRequest{UserId: "dave", Amount: 990, Description: "mug", IdempotencyKey: "e2e-1"}
	created, err := client.CreateOrder(callCtx, req)
	if err != nil {
		t.Fatalf("CreateOrder: %v", err)
	}
	o := created.GetOrder()
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING || o.GetCurrency() != "RUB" || created.GetReplayed() {
		t.Errorf("created: got status %v currency %q replayed %v, want PENDING RUB false", o.GetStatus(), o.GetCurrency(), created.GetReplayed())
	}
	again, err := client.CreateOrder(callCtx, req)
	if err != nil {
		t.Fatalf("repeat CreateOrder: %v", err)
	}
	if !again.GetReplayed() || again.GetOrder().GetId() != o.GetId() {
		t.Errorf("repeat: got replayed %v id %q, want true %q", again.GetReplayed(), again.GetOrder().GetId(), o.GetId())
	}

	errTests := []struct {
		name       string
		call       func() error
		wantCode   codes.Code
		wantReason string
	}{
		{"KeyReused", func() error {
			_, err := client.CreateOrder(callCtx, &ordersv1.CreateOrderRequest{UserId: "dave", Amount: 991, Description: "mug", IdempotencyKey: "e2e-1"})
			return err
		}, codes.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED"},
		{"BadAmount", func() error {
			_, err := client.CreateOrder(callCtx, &ordersv1.CreateOrderRequest{UserId: "dave", Amount: 0})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"MalformedID", func() error {
			_, err := client.GetOrder(callCtx, &ordersv1.GetOrderRequest{UserId: "dave", OrderId: "42"})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT"},
		{"OtherUsersOrder", func() error {
			_, err := client.GetOrder(callCtx, &ordersv1.GetOrderRequest{UserId: "eve", OrderId: o.GetId()})
			return err
		}, codes.NotFound, "NOT_FOUND"},
		{"BadPageToken", func() error {
			_, err := client.ListOrders(callCtx, &ordersv1.ListOrdersRequest{UserId: "dave", PageToken: "%%%"})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT"},
		// Issue 9: a well-formed token nobody issued (version 1, a time in
		// the year -144169) was a 500 with an error log line.
		{"ForgedPageToken", func() error {
			_, err := client.ListOrders(callCtx, &ordersv1.ListOrdersRequest{UserId: "dave", PageToken: "AcAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
			return err
		}, codes.InvalidArgument, "INVALID_ARGUMENT"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("got %v (%v), want %v", got, err, tt.wantCode)
			}
			if got := reasonOf(err); got != tt.wantReason {
				t.Errorf("reason: got %q, want %q", got, tt.wantReason)
			}
		})
	}

	list, err := client.ListOrders(callCtx, &ordersv1.ListOrdersRequest{UserId: "dave"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetOrders()) != 1 || list.GetOrders()[0].GetId() != o.GetId() || list.GetNextPageToken() != "" {
		t.Errorf("list: got %d orders, token %q; want just %s", len(list.GetOrders()), list.GetNextPageToken(), o.GetId())
	}

	// The payments service's event, as Debezium would publish it.
	pcfg := env.ClientConfig(t)
	pcfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(env.Brokers, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	_, _, err = producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic,
		Key:   sarama.StringEncoder("dave"),
		Value: sarama.StringEncoder(`{"orderId":"` + o.GetId() + `","userId":"dave","amount":"990","currency":"RUB"}`),
		Headers: []sarama.RecordHeader{
			{Key: []byte("id"), Value: []byte(uuid.NewString())},
			{Key: []byte("eventType"), Value: []byte(paymentsv1.EventPaymentSucceeded)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stacktest.WaitFor(t, 90*time.Second, "the order to be PAID", func() bool {
		got, err := client.GetOrder(callCtx, &ordersv1.GetOrderRequest{UserId: "dave", OrderId: o.GetId()})
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		return got.GetOrder().GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_PAID
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: got %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after cancel")
	}
}

func TestRunStartupErrors(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Orders)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	tests := []struct {
		name    string
		modify  func(*app.Config)
		wantErr string
	}{
		{"InvalidConfig", func(c *app.Config) { c.Topics.Payments = "" }, "PAYMENTS_TOPIC"},
		{"AddressInUse", func(c *app.Config) { c.Endpoint.GRPCAddr = busy.Addr().String() }, "listen on"},
		{"DatabaseUnreachable", func(c *app.Config) {
			c.DatabaseURL = "postgres://orders_app:orders_app@127.0.0.1:1/orders?connect_timeout=2"
		}, "check orders schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := app.DefaultConfig()
			cfg.GRPC.Insecure = true // plaintext: the TLS hops are the gateway's and the system tests'
			cfg.Endpoint.GRPCAddr = "127.0.0.1:0"
			cfg.Admin.Addr = "127.0.0.1:0"
			cfg.DatabaseURL = service.DatabaseURL(db.URL)
			cfg.Kafka = env.Kafka(local.KafkaOrders)
			cfg.ConsumerGroup = stacktest.Unique("orders-startup-")
			cfg.Ready = func(string) { t.Error("Ready called, want a startup error") }
			tt.modify(&cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := app.Run(ctx, cfg, stacktest.Logger())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
