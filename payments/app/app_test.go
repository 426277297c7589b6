package app

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	paymentsv1 "shop/proto/payments/v1"
	"shop/stack/stacktest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRun starts the whole service and drives it over gRPC and Kafka, then
// checks that cancelling the context stops it cleanly.
func TestRun(t *testing.T) {
	f := newFixture(t)
	cfg := DefaultConfig()
	cfg.GRPCAddr = freeAddr(t)
	cfg.DatabaseURL = f.db.URL
	cfg.KafkaBrokers = f.env.Brokers
	cfg.OrdersTopic = f.topic
	cfg.ConsumerGroup = stacktest.Unique("payments-")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, stacktest.Logger()) }()

	conn, err := grpc.NewClient(cfg.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	waitFor(t, "health SERVING", func() bool {
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

	o := newOrder("alice", 200)
	f.send(t, o, uuid.New())
	if status, _ := f.waitDecided(t, o); status != "SUCCEEDED" {
		t.Fatalf("status = %s, want SUCCEEDED", status)
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
	f.assertConsistent(t, nil)
}

func TestRunFailsOnBadDatabase(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DatabaseURL = "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Run(ctx, cfg, stacktest.Logger()); err == nil {
		t.Error("Run() with an unreachable database = nil, want error")
	}
}
