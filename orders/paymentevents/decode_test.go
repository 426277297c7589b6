package paymentevents_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/orders"
	"shop/orders/paymentevents"
	"shop/stack/stacktest"
)

// TestDecode feeds messages through the dispatch table: a message that
// decodes reaches the store as the wanted payment result; one that does not
// is Undecodable (dead-lettered) and never reaches the store.
func TestDecode(t *testing.T) {
	eventID := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	orderID := uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")
	msg := func(typ, value string) inbox.Message {
		return inbox.Message{EventID: eventID, Type: typ, Key: "u1", Value: []byte(value)}
	}
	tests := []struct {
		name    string
		m       inbox.Message
		want    orders.PaymentResult
		wantErr bool
	}{
		{
			name: "OKSucceeded",
			m:    msg("PaymentSucceeded", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"500","currency":"RUB"}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 500, Paid: true},
		},
		{
			name: "OKSucceededSnakeCaseAndNumberAmount",
			m:    msg("PaymentSucceeded", `{"order_id":"`+orderID.String()+`","user_id":"u1","amount":500,"currency":"RUB"}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 500, Paid: true},
		},
		{
			name: "OKUnknownFieldIgnored",
			m:    msg("PaymentSucceeded", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"1","currency":"RUB","newField":1}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 1, Paid: true},
		},
		{
			name: "OKFailedInsufficientFunds",
			m:    msg("PaymentFailed", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"500","currency":"RUB","reason":"FAILURE_REASON_INSUFFICIENT_FUNDS"}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 500, Reason: orders.CancelReasonInsufficientFunds},
		},
		{
			name: "OKFailedAccountNotFound",
			m:    msg("PaymentFailed", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"500","currency":"RUB","reason":"FAILURE_REASON_ACCOUNT_NOT_FOUND"}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 500, Reason: orders.CancelReasonAccountNotFound},
		},
		{
			name: "OKFailedUnknownFieldsIgnored",
			m:    msg("PaymentFailed", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"500","currency":"RUB","reason":"FAILURE_REASON_INSUFFICIENT_FUNDS","retryAfter":"60s","detail":{"balance":"3"}}`),
			want: orders.PaymentResult{EventID: eventID, OrderID: orderID, UserID: "u1", Amount: 500, Reason: orders.CancelReasonInsufficientFunds},
		},
		{name: "ErrUnknownType", m: msg("OrderCreated", `{}`), wantErr: true},
		{name: "ErrEmptyType", m: msg("", `{}`), wantErr: true},
		{name: "ErrGarbage", m: msg("PaymentSucceeded", `not json`), wantErr: true},
		{name: "ErrWrongFieldType", m: msg("PaymentSucceeded", `{"orderId":5}`), wantErr: true},
		{name: "ErrMissingEventID", m: inbox.Message{Type: "PaymentSucceeded", Value: []byte(`{"orderId":"` + orderID.String() + `","userId":"u1","amount":"1","currency":"RUB"}`)}, wantErr: true},
		{name: "ErrOrderIDNotUUID", m: msg("PaymentSucceeded", `{"orderId":"x","userId":"u1","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrBadUserID", m: msg("PaymentSucceeded", `{"orderId":"`+orderID.String()+`","userId":"a b","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrZeroAmount", m: msg("PaymentSucceeded", `{"orderId":"`+orderID.String()+`","userId":"u1","currency":"RUB"}`), wantErr: true},
		{name: "ErrCurrency", m: msg("PaymentSucceeded", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"1","currency":"USD"}`), wantErr: true},
		{name: "ErrFailedWithoutReason", m: msg("PaymentFailed", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrFailedUnknownReason", m: msg("PaymentFailed", `{"orderId":"`+orderID.String()+`","userId":"u1","amount":"1","currency":"RUB","reason":"FAILURE_REASON_BORED"}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &recordingStore{}
			a, err := paymentevents.New(store, stacktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			err = a.Effects().Apply(context.Background(), nil, tt.m)
			if tt.wantErr {
				if !inbox.IsUndecodable(err) {
					t.Fatalf("got error %v, want an Undecodable one", err)
				}
				if len(store.got) != 0 {
					t.Errorf("store got %+v, want no call", store.got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if diff := cmp.Diff([]orders.PaymentResult{tt.want}, store.got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}
