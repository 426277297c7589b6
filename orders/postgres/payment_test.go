package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"shop/orders"
)

func TestApplyPayment(t *testing.T) {
	paid := orders.PaymentResult{Paid: true}
	broke := orders.PaymentResult{Reason: orders.CancelReasonInsufficientFunds}
	noAccount := orders.PaymentResult{Reason: orders.CancelReasonAccountNotFound}
	tests := []struct {
		name         string
		results      []orders.PaymentResult
		otherUser    bool
		unknownOrder bool
		wantOutcomes []orders.ApplyOutcome
		wantStatus   orders.Status
		wantReason   orders.CancelReason
	}{
		{name: "PendingToPaid", results: []orders.PaymentResult{paid}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusPaid},
		{name: "PendingToCancelledInsufficientFunds", results: []orders.PaymentResult{broke}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonInsufficientFunds},
		{name: "PendingToCancelledAccountNotFound", results: []orders.PaymentResult{noAccount}, wantOutcomes: []orders.ApplyOutcome{orders.Applied}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "PaidStaysPaid", results: []orders.PaymentResult{paid, broke}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.AlreadyTerminal}, wantStatus: orders.StatusPaid},
		{name: "CancelledStaysCancelled", results: []orders.PaymentResult{noAccount, paid}, wantOutcomes: []orders.ApplyOutcome{orders.Applied, orders.AlreadyTerminal}, wantStatus: orders.StatusCancelled, wantReason: orders.CancelReasonAccountNotFound},
		{name: "OtherUserIgnored", results: []orders.PaymentResult{paid}, otherUser: true, wantOutcomes: []orders.ApplyOutcome{orders.UnknownOrder}, wantStatus: orders.StatusPending},
		{name: "UnknownOrderIgnored", results: []orders.PaymentResult{paid}, unknownOrder: true, wantOutcomes: []orders.ApplyOutcome{orders.UnknownOrder}, wantStatus: orders.StatusPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db, c := newStore(t)
			ctx := context.Background()
			created, err := s.CreateOrder(ctx, orders.CreateOrderParams{UserID: "alice", Amount: 10})
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range tt.results {
				c.Set(t0.Add(time.Duration(i+1) * time.Minute))
				r.OrderID, r.UserID, r.Amount = created.Order.ID, "alice", 10
				if tt.otherUser {
					r.UserID = "mallory"
				}
				if tt.unknownOrder {
					r.OrderID = uuid.New()
				}
				var outcome orders.ApplyOutcome
				err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
					var err error
					outcome, err = s.ApplyPayment(ctx, tx, r)
					return err
				})
				if err != nil {
					t.Fatalf("apply %d: %v", i, err)
				}
				if outcome != tt.wantOutcomes[i] {
					t.Errorf("apply %d: got %v, want %v", i, outcome, tt.wantOutcomes[i])
				}
			}
			got, err := s.GetOrder(ctx, "alice", created.Order.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tt.wantStatus || got.CancelReason != tt.wantReason {
				t.Errorf("got (%s, %q), want (%s, %q)", got.Status, got.CancelReason, tt.wantStatus, tt.wantReason)
			}
			wantUpdated := created.Order.UpdatedAt
			if tt.wantStatus != orders.StatusPending {
				wantUpdated = t0.Add(time.Minute).Truncate(time.Microsecond) // the first, applied result
			}
			if !got.UpdatedAt.Equal(wantUpdated) {
				t.Errorf("updated_at: got %v, want %v", got.UpdatedAt, wantUpdated)
			}
		})
	}
}
