package orderevents

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"shop/cdc/inbox"
	"shop/payments"
)

func TestDecodeOrderCreated(t *testing.T) {
	id := uuid.MustParse("0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
	msg := func(typ, key, value string) inbox.Message {
		return inbox.Message{EventID: uuid.New(), Type: typ, Key: key, Value: []byte(value)}
	}
	good := `{"orderId":"` + id.String() + `","userId":"alice","amount":"150","currency":"RUB","createdAt":"2026-05-01T10:00:00Z"}`
	tests := []struct {
		name    string
		m       inbox.Message
		want    payments.OrderCreated
		wantErr bool
	}{
		{name: "OK", m: msg("OrderCreated", "alice", good),
			want: payments.OrderCreated{OrderID: id, UserID: "alice", Amount: 150, Currency: "RUB", CreatedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "OKProtoFieldNames", m: msg("OrderCreated", "alice", `{"order_id":"`+id.String()+`","user_id":"alice","amount":150,"currency":"RUB"}`),
			want: payments.OrderCreated{OrderID: id, UserID: "alice", Amount: 150, Currency: "RUB"}},
		{name: "OKNoKey", m: msg("OrderCreated", "", good),
			want: payments.OrderCreated{OrderID: id, UserID: "alice", Amount: 150, Currency: "RUB", CreatedAt: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}},
		{name: "ErrGarbage", m: msg("OrderCreated", "alice", "\x00\xffnot json"), wantErr: true},
		// Unknown fields are ignored (inbox.Unmarshal): the orders service
		// may add a field without dead-lettering every order.
		{name: "OKUnknownField", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"1","currency":"RUB","extra":1}`),
			want: payments.OrderCreated{OrderID: id, UserID: "alice", Amount: 1, Currency: "RUB"}},
		{name: "ErrBadOrderID", m: msg("OrderCreated", "alice", `{"orderId":"x","userId":"alice","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrZeroAmount", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"0","currency":"RUB"}`), wantErr: true},
		{name: "ErrNegativeAmount", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"-5","currency":"RUB"}`), wantErr: true},
		{name: "ErrCurrency", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"5","currency":"USD"}`), wantErr: true},
		{name: "ErrBadUser", m: msg("OrderCreated", "bad user", `{"orderId":"`+id.String()+`","userId":"bad user","amount":"5","currency":"RUB"}`), wantErr: true},
		{name: "ErrKeyMismatch", m: msg("OrderCreated", "bob", good), wantErr: true},
		{name: "ErrOrderIDBraces", m: msg("OrderCreated", "alice", `{"orderId":"{`+id.String()+`}","userId":"alice","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrOrderIDURN", m: msg("OrderCreated", "alice", `{"orderId":"urn:uuid:`+id.String()+`","userId":"alice","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "ErrNilOrderID", m: msg("OrderCreated", "alice", `{"orderId":"`+uuid.Nil.String()+`","userId":"alice","amount":"1","currency":"RUB"}`), wantErr: true},
		{name: "OKMaxAmount", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"1000000000000","currency":"RUB"}`),
			want: payments.OrderCreated{OrderID: id, UserID: "alice", Amount: 1_000_000_000_000, Currency: "RUB"}},
		{name: "ErrAmountAboveLimit", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"1000000000001","currency":"RUB"}`), wantErr: true},
		{name: "ErrEmptyUser", m: msg("OrderCreated", "", `{"orderId":"`+id.String()+`","userId":"","amount":"5","currency":"RUB"}`), wantErr: true},
		{name: "ErrUserTooLong", m: msg("OrderCreated", "", `{"orderId":"`+id.String()+`","userId":"`+strings.Repeat("a", 65)+`","amount":"5","currency":"RUB"}`), wantErr: true},
		{name: "ErrUserWithNUL", m: msg("OrderCreated", "", `{"orderId":"`+id.String()+`","userId":"al\u0000ice","amount":"5","currency":"RUB"}`), wantErr: true},
		{name: "ErrBadCreatedAt", m: msg("OrderCreated", "alice", `{"orderId":"`+id.String()+`","userId":"alice","amount":"5","currency":"RUB","createdAt":"10000-01-01T00:00:00Z"}`), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeOrderCreated(tt.m)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("decodeOrderCreated() error = %v, want error %t", err, tt.wantErr)
			}
			if err != nil {
				if !inbox.IsUndecodable(err) {
					t.Errorf("error %v is not Undecodable", err)
				}
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decodeOrderCreated() (-want +got):\n%s", diff)
			}
		})
	}
}
