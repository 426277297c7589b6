package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

// stubStore returns canned results; the store itself is tested against
// Postgres in package postgres.
type stubStore struct {
	create   orders.CreateOrderResult
	order    orders.Order
	page     orders.Page
	err      error
	gotGet   uuid.UUID
	gotList  orders.ListOrdersParams
	gotParam orders.CreateOrderParams
}

func (s *stubStore) CreateOrder(_ context.Context, p orders.CreateOrderParams) (orders.CreateOrderResult, error) {
	s.gotParam = p
	return s.create, s.err
}

func (s *stubStore) GetOrder(_ context.Context, _ string, id uuid.UUID) (orders.Order, error) {
	s.gotGet = id
	return s.order, s.err
}

func (s *stubStore) ListOrders(_ context.Context, p orders.ListOrdersParams) (orders.Page, error) {
	s.gotList = p
	return s.page, s.err
}

func newServer(t *testing.T, st Store) *Server {
	t.Helper()
	s, err := New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewRequiresDependencies(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := New(nil, logger); err == nil {
		t.Error("New(nil store): got nil error, want one")
	}
	if _, err := New(&stubStore{}, nil); err == nil {
		t.Error("New(nil logger): got nil error, want one")
	}
}

// TestHandlersPassStoreErrorsThrough checks that every handler turns a
// store error into its status (code, client-safe message, ErrorInfo reason
// in domain "shop"). The mapping itself is tested in service/fault.
func TestHandlersPassStoreErrorsThrough(t *testing.T) {
	id := uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")
	calls := []struct {
		method string
		call   func(ctx context.Context, s *Server) error
	}{
		{"CreateOrder", func(ctx context.Context, s *Server) error {
			_, err := s.CreateOrder(ctx, &ordersv1.CreateOrderRequest{UserId: "u1", Amount: 1})
			return err
		}},
		{"GetOrder", func(ctx context.Context, s *Server) error {
			_, err := s.GetOrder(ctx, &ordersv1.GetOrderRequest{UserId: "u1", OrderId: id.String()})
			return err
		}},
		{"ListOrders", func(ctx context.Context, s *Server) error {
			_, err := s.ListOrders(ctx, &ordersv1.ListOrdersRequest{UserId: "u1"})
			return err
		}},
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancelExpired()
	errs := []struct {
		name       string
		ctx        context.Context
		err        error
		wantCode   codes.Code
		wantMsg    string
		wantReason string
	}{
		{"Invalid", nil, fault.Errorf(fault.Invalid, "amount must be between 1 and 2"), codes.InvalidArgument, "amount must be between 1 and 2", fault.ReasonInvalidArgument},
		{"NotFound", nil, fmt.Errorf("get: %w", fault.Errorf(fault.NotFound, "order x not found")), codes.NotFound, "order x not found", fault.ReasonNotFound},
		{"KeyReused", nil, fault.Errorf(fault.FailedPrecondition, "reused").WithReason(fault.ReasonIdempotencyKeyReused), codes.FailedPrecondition, "reused", fault.ReasonIdempotencyKeyReused},
		{"KeyInUse", nil, fault.Errorf(fault.Aborted, "in flight").WithReason(fault.ReasonIdempotencyKeyInUse), codes.Aborted, "in flight", fault.ReasonIdempotencyKeyInUse},
		{"Unavailable", nil, fault.Errorf(fault.Unavailable, "database unavailable"), codes.Unavailable, "service unavailable", fault.ReasonUnavailable},
		{"InternalHidesDetails", nil, errors.New("insert order: password=secret"), codes.Internal, "internal error", fault.ReasonInternal},
		{"Canceled", cancelled, fmt.Errorf("query: %w", context.Canceled), codes.Canceled, "request cancelled", "CANCELLED"},
		{"DeadlineExceeded", expired, fmt.Errorf("query: %w", context.DeadlineExceeded), codes.DeadlineExceeded, "deadline exceeded", "DEADLINE_EXCEEDED"},
	}
	for _, c := range calls {
		for _, tt := range errs {
			t.Run(c.method+"/"+tt.name, func(t *testing.T) {
				ctx := tt.ctx
				if ctx == nil {
					ctx = context.Background()
				}
				st := status.Convert(c.call(ctx, newServer(t, &stubStore{err: tt.err})))
				if st.Code() != tt.wantCode {
					t.Errorf("code: got %v, want %v", st.Code(), tt.wantCode)
				}
				if st.Message() != tt.wantMsg {
					t.Errorf("message: got %q, want %q", st.Message(), tt.wantMsg)
				}
				want := []any{&errdetails.ErrorInfo{Reason: tt.wantReason, Domain: fault.ErrorDomain}}
				if diff := cmp.Diff(want, st.Details(), protocmp.Transform()); diff != "" {
					t.Errorf("details (-want +got):\n%s", diff)
				}
			})
		}
	}
}
