package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/audit"
	"shop/payments/app"
	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// sendOrderCreated produces the OrderCreated of a new order of user to
// topic, as the Debezium router would, and returns the order id.
func sendOrderCreated(t *testing.T, env *stacktest.Env, topic, user string, amount int64) uuid.UUID {
	t.Helper()
	cfg := env.ClientConfig(t)
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(env.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	id := uuid.New()
	value, err := protojson.Marshal(&ordersv1.OrderCreated{OrderId: id.String(), UserId: user, Amount: amount,
		Currency: "RUB", CreatedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(user), Value: sarama.ByteEncoder(value),
		Headers: []sarama.RecordHeader{
			{Key: []byte("id"), Value: []byte(uuid.NewString())},
			{Key: []byte("eventType"), Value: []byte(ordersv1.EventOrderCreated)},
		}}); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return id
}

// TestRun starts the whole service and drives it over gRPC and Kafka, then
// checks that cancelling the context stops it cleanly.
func TestRun(t *testing.T) {
	env := stacktest.Get(t)
	db := env.NewDatabase(t, schema.Payments)
	topic := env.NewTopic(t, "orders.events")
	cfg := app.DefaultConfig()
	cfg.GRPC.Insecure = true // plaintext: the TLS hops are the gateway's and the system tests'
	cfg.Endpoint.GRPCAddr = stacktest.FreeAddr(t)
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.DatabaseURL = service.DatabaseURL(db.URL)
	cfg.Kafka = env.Kafka(local.KafkaPayments)
	cfg.Topics.Orders = topic
	cfg.ConsumerGroup = stacktest.Unique("payments-")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, stacktest.Logger()) }()

	conn, err := grpc.NewClient(cfg.Endpoint.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	stacktest.WaitFor(t, 90*time.Second, "health SERVING", func() bool {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: paymentsv1.PaymentService_ServiceDesc.ServiceName})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})

	api := paymentsv1.NewPaymentServiceClient(conn)
	if _, err := api.CreateAccount(ctx, &paymentsv1.CreateAccountRequest{UserId: "alice"}); err != nil {
		t.Fatalf("CreateAccount() = %v", err)
	}
	_, err = api.CreateAccount(ctx, &paymentsv1.CreateAccountRequest{UserId: "alice"})
	if st := status.Convert(err); st.Code() != codes.AlreadyExists {
		t.Errorf("second CreateAccount() code = %v, want AlreadyExists", st.Code())
	}
	up, err := api.TopUp(ctx, &paymentsv1.TopUpRequest{UserId: "alice", Amount: 500, IdempotencyKey: "k1"})
	if err != nil || up.GetAccount().GetBalance() != 500 || up.GetAccount().GetCurrency() != "RUB" {
		t.Fatalf("TopUp() = %v, %v; want balance 500 RUB", up, err)
	}
	_, err = api.TopUp(ctx, &paymentsv1.TopUpRequest{UserId: "alice", Amount: 0})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument {
		t.Errorf("TopUp(0) code = %v, want InvalidArgument", st.Code())
	}

	orderID := sendOrderCreated(t, env, topic, "alice", 200)
	stacktest.WaitFor(t, 90*time.Second, "decision on order "+orderID.String(), func() bool {
		return stacktest.Count(t, db.Pool, `SELECT count(*) FROM payment_outcomes WHERE order_id = $1`, orderID) == 1
	})
	var decision string
	if err := db.Pool.QueryRow(ctx, `SELECT status FROM payment_outcomes WHERE order_id = $1`, orderID).Scan(&decision); err != nil {
		t.Fatal(err)
	}
	if decision != "SUCCEEDED" {
		t.Fatalf("status = %s, want SUCCEEDED", decision)
	}
	got, err := api.GetAccount(ctx, &paymentsv1.GetAccountRequest{UserId: "alice"})
	if err != nil || got.GetAccount().GetBalance() != 300 {
		t.Errorf("GetAccount() = %v, %v; want balance 300", got, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run() did not return after cancel")
	}
	r, err := audit.Check(context.Background(), db.Pool, nil)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if !r.OK() {
		t.Fatalf("audit violations: %v", r.Violations)
	}
}

func TestRunFailsOnBadDatabase(t *testing.T) {
	cfg := app.DefaultConfig()
	cfg.GRPC.Insecure = true // plaintext: the TLS hops are the gateway's and the system tests'
	cfg.DatabaseURL = "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.Run(ctx, cfg, stacktest.Logger()); err == nil {
		t.Error("Run() with an unreachable database = nil, want error")
	}
}
