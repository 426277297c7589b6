package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

// statusWithReason is a gRPC status error carrying an ErrorInfo reason, the
// way the services send them.
func statusWithReason(t testing.TB, code codes.Code, msg, reason string) error {
	t.Helper()
	st := status.New(code, msg)
	if reason == "" {
		return st.Err()
	}
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "shop"})
	if err != nil {
		t.Fatalf("status with details: %v", err)
	}
	return st.Err()
}

func TestFromBackend(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantCode    string
		wantMessage string
		wantCause   bool
	}{
		{"InvalidArgument", statusWithReason(t, codes.InvalidArgument, "amount must be between 1 and 1000000000000", ""), 400, CodeInvalidArgument, "amount must be between 1 and 1000000000000", false},
		{"InvalidArgumentEmptyMessage", status.Error(codes.InvalidArgument, ""), 400, CodeInvalidArgument, "invalid argument", false},
		{"NotFound", status.Error(codes.NotFound, "order not found"), 404, CodeNotFound, "order not found", false},
		{"AccountExists", statusWithReason(t, codes.AlreadyExists, "account already exists", fault.ReasonAccountExists), 409, CodeAccountExists, "account already exists", false},
		{"AlreadyExistsWithoutReason", status.Error(codes.AlreadyExists, "duplicate key value violates unique constraint"), 500, CodeInternal, msgInternal, true},
		{"KeyInUse", statusWithReason(t, codes.Aborted, "in flight", fault.ReasonIdempotencyKeyInUse), 409, CodeIdempotencyKeyInUse, "in flight", false},
		{"AbortedWithoutReason", status.Error(codes.Aborted, "serialization failure"), 500, CodeInternal, msgInternal, true},
		{"KeyReused", statusWithReason(t, codes.FailedPrecondition, "key reused", fault.ReasonIdempotencyKeyReused), 422, CodeIdempotencyKeyReused, "key reused", false},
		{"BalanceLimit", statusWithReason(t, codes.FailedPrecondition, "balance would exceed 1000000000000000", fault.ReasonBalanceLimitExceeded), 422, CodeBalanceLimitExceeded, "balance would exceed 1000000000000000", false},
		{"FailedPreconditionOtherReason", statusWithReason(t, codes.FailedPrecondition, "x", "SOMETHING_ELSE"), 500, CodeInternal, msgInternal, true},
		{"ReasonOnWrongCode", statusWithReason(t, codes.Internal, "x", fault.ReasonAccountExists), 500, CodeInternal, msgInternal, true},
		{"Unavailable", status.Error(codes.Unavailable, "connection refused 10.0.0.1:9101"), 503, CodeUnavailable, msgUnavailable, true},
		{"DeadlineExceeded", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), 503, CodeUnavailable, msgUnavailable, true},
		{"Canceled", status.Error(codes.Canceled, "context canceled"), 503, CodeUnavailable, msgUnavailable, true},
		{"ContextDeadline", fmt.Errorf("call: %w", context.DeadlineExceeded), 503, CodeUnavailable, msgUnavailable, true},
		{"Internal", status.Error(codes.Internal, "pq: relation \"orders\" does not exist"), 500, CodeInternal, msgInternal, true},
		{"Unknown", status.Error(codes.Unknown, "panic"), 500, CodeInternal, msgInternal, true},
		{"Unauthenticated", status.Error(codes.Unauthenticated, "x"), 500, CodeInternal, msgInternal, true},
		{"NotAStatus", errors.New("boom"), 500, CodeInternal, msgInternal, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBackend(tt.err)
			if got == nil {
				t.Fatal("fromBackend returned nil")
			}
			if got.status != tt.wantStatus || got.code != tt.wantCode || got.message != tt.wantMessage {
				t.Errorf("got %d %s %q, want %d %s %q", got.status, got.code, got.message, tt.wantStatus, tt.wantCode, tt.wantMessage)
			}
			if (got.cause != nil) != tt.wantCause {
				t.Errorf("cause = %v, want cause kept: %v", got.cause, tt.wantCause)
			}
			if http.StatusText(got.status) == "" {
				t.Errorf("status %d is not an HTTP status", got.status)
			}
		})
	}
	if got := fromBackend(nil); got != nil {
		t.Errorf("fromBackend(nil) = %v, want nil", got)
	}
}

func TestBackendFailures(t *testing.T) {
	const secret = `pq: password authentication failed for user "shop" at 10.1.2.3`
	tests := []struct {
		name       string
		setup      func(env *testEnv)
		r          req
		wantStatus int
		wantCode   string
	}{
		{"Internal", func(env *testEnv) { env.payments.fail("GetAccount", status.Error(codes.Internal, secret)) },
			req{method: "GET", path: "/api/v1/account", user: "alice"}, 500, CodeInternal},
		{"Unknown", func(env *testEnv) { env.orders.fail("ListOrders", status.Error(codes.Unknown, secret)) },
			req{method: "GET", path: "/api/v1/orders", user: "alice"}, 500, CodeInternal},
		{"Unavailable", func(env *testEnv) { env.orders.fail("CreateOrder", status.Error(codes.Unavailable, secret)) },
			req{method: "POST", path: "/api/v1/orders", user: "alice", body: `{"amount":1}`}, 503, CodeUnavailable},
		{"Slow", func(env *testEnv) { env.payments.stall("CreateAccount", time.Minute) },
			req{method: "POST", path: "/api/v1/account", user: "alice"}, 503, CodeUnavailable},
		{"Down", func(env *testEnv) { env.ordersServer.Stop() },
			req{method: "GET", path: "/api/v1/orders/" + uuid.NewString(), user: "alice"}, 503, CodeUnavailable},
		{"MalformedOrder", func(env *testEnv) {
			env.orders.corrupt = &ordersv1.Order{Id: "x", Status: ordersv1.OrderStatus_ORDER_STATUS_UNSPECIFIED}
		}, req{method: "GET", path: "/api/v1/orders/" + uuid.NewString(), user: "alice"}, 500, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, 200*time.Millisecond)
			tt.setup(env)
			start := time.Now()
			rec := env.do(t, tt.r)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s; a failing backend must not hang the request", d)
			}
			got := wantError(t, rec, tt.wantStatus, tt.wantCode)
			if strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(got.Message, "pq:") {
				t.Errorf("body leaks internal details: %s", rec.Body)
			}
			if n := strings.Count(env.logs.String(), "request failed"); n != 1 {
				t.Errorf("failure logged %d times, want once:\n%s", n, env.logs)
			}
		})
	}
}
