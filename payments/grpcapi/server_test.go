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
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"shop/payments"
	"shop/payments/postgres"
	paymentsv1 "shop/proto/payments/v1"
)

func TestToStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		wantCode   codes.Code
		wantReason string
		wantMsg    string
	}{
		{name: "Invalid", err: payments.Invalidf("amount must be between 1 and 1000000000000"), wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantMsg: "amount must be between 1 and 1000000000000"},
		{name: "NotFound", err: payments.Errorf(payments.KindNotFound, payments.ReasonNotFound, "account not found"), wantCode: codes.NotFound, wantReason: "NOT_FOUND", wantMsg: "account not found"},
		{name: "AccountExists", err: payments.Errorf(payments.KindConflict, payments.ReasonAccountExists, "account already exists"), wantCode: codes.AlreadyExists, wantReason: "ACCOUNT_EXISTS", wantMsg: "account already exists"},
		{name: "BalanceLimit", err: payments.Errorf(payments.KindFailedPrecondition, payments.ReasonBalanceLimitExceeded, "too much"), wantCode: codes.FailedPrecondition, wantReason: "BALANCE_LIMIT_EXCEEDED", wantMsg: "too much"},
		{name: "KeyReused", err: fmt.Errorf("top up: %w", payments.Errorf(payments.KindFailedPrecondition, payments.ReasonIdempotencyKeyReused, "reused")), wantCode: codes.FailedPrecondition, wantReason: "IDEMPOTENCY_KEY_REUSED", wantMsg: "reused"},
		{name: "KeyInUse", err: payments.Errorf(payments.KindAborted, payments.ReasonIdempotencyKeyInUse, "in use"), wantCode: codes.Aborted, wantReason: "IDEMPOTENCY_KEY_IN_USE", wantMsg: "in use"},
		{name: "UnavailableHidesCause", err: &payments.Error{Kind: payments.KindUnavailable, Reason: payments.ReasonUnavailable, Message: "database unavailable", Err: errors.New("dial tcp 10.0.0.1:5432")}, wantCode: codes.Unavailable, wantReason: "UNAVAILABLE", wantMsg: "service unavailable"},
		{name: "PlainErrorIsInternal", err: errors.New("password=secret"), wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
		{name: "InternalKindHidesMessage", err: &payments.Error{Kind: payments.KindInternal, Reason: "SOMETHING", Message: "leaky"}, wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
		{name: "ClientCancelled", ctx: cancelled, err: fmt.Errorf("get: %w", context.Canceled), wantCode: codes.Canceled, wantReason: "CANCELLED", wantMsg: "request cancelled"},
		{name: "CancelledWithoutClientCancelIsInternal", err: context.Canceled, wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			st := toStatus(ctx, tt.err)
			if st.Code() != tt.wantCode {
				t.Errorf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			if st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
			want := []any{&errdetails.ErrorInfo{Reason: tt.wantReason, Domain: "shop"}}
			if diff := cmp.Diff(want, st.Details(), protocmp.Transform()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeAccounts returns canned results; it stands in for the store to test
// the handlers' conversion, not the store.
type fakeAccounts struct {
	acc payments.Account
	err error
	got []any
}

func (f *fakeAccounts) CreateAccount(_ context.Context, userID string) (payments.Account, error) {
	f.got = []any{userID}
	return f.acc, f.err
}

func (f *fakeAccounts) GetAccount(_ context.Context, userID string) (payments.Account, error) {
	f.got = []any{userID}
	return f.acc, f.err
}

func (f *fakeAccounts) TopUp(_ context.Context, userID string, amount int64, key string) (postgres.TopUpResult, error) {
	f.got = []any{userID, amount, key}
	return postgres.TopUpResult{Account: f.acc, Replayed: true}, f.err
}

func TestHandlers(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	acc := payments.Account{UserID: "alice", Balance: 500, Currency: "RUB", CreatedAt: created, UpdatedAt: created.Add(time.Hour)}
	f := &fakeAccounts{acc: acc}
	s, err := New(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.TopUp(context.Background(), &paymentsv1.TopUpRequest{UserId: "alice", Amount: 7, IdempotencyKey: "k"})
	if err != nil {
		t.Fatalf("TopUp() error = %v", err)
	}
	if diff := cmp.Diff([]any{"alice", int64(7), "k"}, f.got); diff != "" {
		t.Errorf("store args (-want +got):\n%s", diff)
	}
	wantAcc := &paymentsv1.Account{UserId: "alice", Balance: 500, Currency: "RUB"}
	wantAcc.CreatedAt, wantAcc.UpdatedAt = accountToProto(acc).CreatedAt, accountToProto(acc).UpdatedAt
	if diff := cmp.Diff(&paymentsv1.TopUpResponse{Account: wantAcc, Replayed: true}, resp, protocmp.Transform()); diff != "" {
		t.Errorf("TopUp() (-want +got):\n%s", diff)
	}
	if got := resp.GetAccount().GetUpdatedAt().AsTime(); !got.Equal(created.Add(time.Hour)) {
		t.Errorf("updated_at = %v, want %v", got, created.Add(time.Hour))
	}

	f.err = payments.Errorf(payments.KindConflict, payments.ReasonAccountExists, "account already exists")
	_, err = s.CreateAccount(context.Background(), &paymentsv1.CreateAccountRequest{UserId: "alice"})
	if got := status.Code(err); got != codes.AlreadyExists {
		t.Errorf("CreateAccount() code = %v, want %v", got, codes.AlreadyExists)
	}
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(nil, slog.Default()); err == nil {
		t.Error("New(nil accounts) error = nil, want error")
	}
	if _, err := New(&fakeAccounts{}, nil); err == nil {
		t.Error("New(nil logger) error = nil, want error")
	}
}
