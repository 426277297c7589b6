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
