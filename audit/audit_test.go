package audit

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestCheckOrders(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	id := func(n byte) uuid.UUID { return uuid.UUID{15: n} }
	tests := []struct {
		name         string
		debits       map[uuid.UUID]debit
		orders       map[uuid.UUID]order
		wantKinds    []string
		wantInFlight int
		wantPaid     int
	}{
		{name: "OKPaidAndDebited",
			debits: map[uuid.UUID]debit{id(1): {"alice", 10, now.Add(-time.Hour)}},
			orders: map[uuid.UUID]order{id(1): {"alice", 10, "PAID"}}, wantPaid: 1},
		{name: "OKPendingDebitInFlight",
			debits: map[uuid.UUID]debit{id(1): {"alice", 10, now.Add(-time.Second)}},
			orders: map[uuid.UUID]order{id(1): {"alice", 10, "PENDING"}}, wantInFlight: 1},
		{name: "ErrPendingDebitTooOld",
			debits:    map[uuid.UUID]debit{id(1): {"alice", 10, now.Add(-time.Hour)}},
			orders:    map[uuid.UUID]order{id(1): {"alice", 10, "PENDING"}},
			wantKinds: []string{DebitWithoutOrder}},
		{name: "ErrPaidWithoutDebit",
			orders:    map[uuid.UUID]order{id(1): {"alice", 10, "PAID"}},
			wantKinds: []string{PaidWithoutDebit}, wantPaid: 1},
		{name: "ErrAmountMismatch",
			debits:    map[uuid.UUID]debit{id(1): {"alice", 11, now}},
			orders:    map[uuid.UUID]order{id(1): {"alice", 10, "PAID"}},
			wantKinds: []string{DebitMismatch}, wantPaid: 1},
		{name: "ErrUserMismatch",
			debits:    map[uuid.UUID]debit{id(1): {"bob", 10, now}},
			orders:    map[uuid.UUID]order{id(1): {"alice", 10, "PAID"}},
			wantKinds: []string{DebitMismatch}, wantPaid: 1},
		{name: "ErrDebitOfCancelledOrder",
			debits:    map[uuid.UUID]debit{id(1): {"alice", 10, now}},
			orders:    map[uuid.UUID]order{id(1): {"alice", 10, "CANCELLED"}},
			wantKinds: []string{DebitWithoutOrder}},
		{name: "ErrDebitOfUnknownOrder",
			debits:    map[uuid.UUID]debit{id(1): {"alice", 10, now}},
			wantKinds: []string{DebitWithoutOrder}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Report
			checkOrders(&r, tt.debits, tt.orders, now)
			var kinds []string
			for _, v := range r.Violations {
				kinds = append(kinds, v.Kind)
			}
			if diff := cmp.Diff(tt.wantKinds, kinds); diff != "" {
				t.Errorf("violations (-want +got):\n%s", diff)
			}
			if r.InFlight != tt.wantInFlight {
				t.Errorf("InFlight = %d, want %d", r.InFlight, tt.wantInFlight)
			}
			if r.PaidOrders != tt.wantPaid {
				t.Errorf("PaidOrders = %d, want %d", r.PaidOrders, tt.wantPaid)
			}
			if r.OK() != (len(tt.wantKinds) == 0) {
				t.Errorf("OK() = %t with %d violations", r.OK(), len(r.Violations))
			}
		})
	}
}
