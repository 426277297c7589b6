package grpcapi

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"shop/payments"
	paymentsv1 "shop/proto/payments/v1"
	"shop/service/fault"
)

// fakeStore returns canned results; it stands in for the store to test
// the handlers' conversion, not the store.
type fakeStore struct {
	acc payments.Account
	err error
	got []any
}

func (f *fakeStore) CreateAccount(_ context.Context, userID string) (payments.Account, error) {
	f.got = []any{userID}
	return f.acc, f.err
}

func (f *fakeStore) GetAccount(_ context.Context, userID string) (payments.Account, error) {
	f.got = []any{userID}
	return f.acc, f.err
}

func (f *fakeStore) TopUp(_ context.Context, userID string, amount int64, key string) (payments.TopUpResult, error) {
	f.got = []any{userID, amount, key}
	return payments.TopUpResult{Account: f.acc, Replayed: true}, f.err
}

func TestHandlers(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	acc := payments.Account{UserID: "alice", Balance: 500, Currency: "RUB", CreatedAt: created, UpdatedAt: created.Add(time.Hour)}
	f := &fakeStore{acc: acc}
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

	f.err = fault.Errorf(fault.AlreadyExists, "account already exists").WithReason(fault.ReasonAccountExists)
	_, err = s.CreateAccount(context.Background(), &paymentsv1.CreateAccountRequest{UserId: "alice"})
	if got := status.Code(err); got != codes.AlreadyExists {
		t.Errorf("CreateAccount() code = %v, want %v", got, codes.AlreadyExists)
	}
}
