package proto_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// TestEventTypesAreMessageNames keeps each event type constant equal to the
// name of the message it carries, so that the type cannot drift from the
// schema.
func TestEventTypesAreMessageNames(t *testing.T) {
	tests := []struct {
		eventType string
		msg       proto.Message
	}{
		{ordersv1.EventOrderCreated, &ordersv1.OrderCreated{}},
		{paymentsv1.EventPaymentSucceeded, &paymentsv1.PaymentSucceeded{}},
		{paymentsv1.EventPaymentFailed, &paymentsv1.PaymentFailed{}},
	}
	for _, tt := range tests {
		t.Run(tt.eventType, func(t *testing.T) {
			if got := string(tt.msg.ProtoReflect().Descriptor().Name()); got != tt.eventType {
				t.Errorf("message name %q, event type %q", got, tt.eventType)
			}
		})
	}
}
