package ordersv1

// The events of the orders service, defined once for the outbox that writes
// them and the consumer that reads them. The topic is deployment
// configuration (service.Topics, ORDERS_TOPIC).
const (
	// AggregateType is the outbox aggregatetype of every orders event; the
	// aggregateid is the user id, which becomes the Kafka key.
	AggregateType = "order"
	// EventOrderCreated is the outbox type (Kafka header eventType) of
	// OrderCreated; it is the message's name.
	EventOrderCreated = "OrderCreated"
)
