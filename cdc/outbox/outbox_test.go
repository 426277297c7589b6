package outbox

import (
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestEventValidate(t *testing.T) {
	ok := Event{ID: uuid.New(), AggregateType: "order", AggregateID: "alice", Type: "OrderCreated", Payload: wrapperspb.String("x")}
	tests := []struct {
		name    string
		mutate  func(*Event)
		wantErr bool
	}{
		{name: "OK", mutate: func(*Event) {}},
		{name: "OKNoTraceparent", mutate: func(e *Event) { e.Traceparent = "" }},
		{name: "ErrNilID", mutate: func(e *Event) { e.ID = uuid.Nil }, wantErr: true},
		{name: "ErrNoAggregateType", mutate: func(e *Event) { e.AggregateType = "" }, wantErr: true},
		{name: "ErrNoAggregateID", mutate: func(e *Event) { e.AggregateID = "" }, wantErr: true},
		{name: "ErrNoType", mutate: func(e *Event) { e.Type = "" }, wantErr: true},
		{name: "ErrNoPayload", mutate: func(e *Event) { e.Payload = nil }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := ok
			tt.mutate(&e)
			if err := e.validate(); (err != nil) != tt.wantErr {
				t.Errorf("validate() = %v, want error %t", err, tt.wantErr)
			}
		})
	}
}

func TestEventRow(t *testing.T) {
	id := uuid.New()
	trace := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name    string
		event   Event
		want    row
		wantErr bool
	}{
		{
			name:  "WithTraceparent",
			event: Event{ID: id, AggregateType: "payment", AggregateID: "alice", Type: "PaymentSucceeded", Payload: wrapperspb.Int64(42), Traceparent: trace},
			want:  row{ID: id, AggregateType: "payment", AggregateID: "alice", Type: "PaymentSucceeded", Payload: `"42"`, Traceparent: &trace},
		},
		{
			name:  "NoTraceparent",
			event: Event{ID: id, AggregateType: "order", AggregateID: "bob", Type: "OrderCreated", Payload: wrapperspb.String("x")},
			want:  row{ID: id, AggregateType: "order", AggregateID: "bob", Type: "OrderCreated", Payload: `"x"`},
		},
		{name: "ErrInvalid", event: Event{ID: id, AggregateType: "order", AggregateID: "bob", Payload: wrapperspb.String("x")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.event.row()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Row() error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.ID != tt.want.ID || got.AggregateType != tt.want.AggregateType || got.AggregateID != tt.want.AggregateID ||
				got.Type != tt.want.Type || got.Payload != tt.want.Payload {
				t.Errorf("Row() = %+v, want %+v", got, tt.want)
			}
			if (got.Traceparent == nil) != (tt.want.Traceparent == nil) || (got.Traceparent != nil && *got.Traceparent != *tt.want.Traceparent) {
				t.Errorf("Row().Traceparent = %v, want %v", got.Traceparent, tt.want.Traceparent)
			}
		})
	}
}
