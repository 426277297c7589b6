package paymentsv1

// The events of the payments service, defined once for the outbox that
// writes them and the consumer that reads them. The topic is deployment
// configuration (service.Topics, PAYMENTS_TOPIC).
const (
	// AggregateType is the outbox aggregatetype of every payments event; the
	// aggregateid is the user id, which becomes the Kafka key.
	AggregateType = "payment"
	// EventPaymentSucceeded is the outbox type (Kafka header eventType) of
	// PaymentSucceeded; it is the message's name.
	EventPaymentSucceeded = "PaymentSucceeded"
	// EventPaymentFailed is the outbox type of PaymentFailed.
	EventPaymentFailed = "PaymentFailed"
)
