// Package outbox writes events to the transactional outbox that Debezium
// tails, and purges rows once the connector has published them and they are
// past their retention.
//
// A service never produces to Kafka itself: it calls Insert in the same
// transaction as the state change. Debezium's Outbox Event Router turns the
// row into a Kafka message: aggregateid becomes the key, id the header "id",
// type the header "eventType", payload the value and traceparent the header
// "traceparent".
package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Event is one outbox row.
type Event struct {
	// ID is the event id; it becomes the Kafka header "id". Must not be the
	// zero UUID.
	ID uuid.UUID
	// AggregateType is "order" or "payment".
	AggregateType string
	// AggregateID is the user id; it becomes the Kafka message key.
	AggregateID string
	// Type is the event type, e.g. "OrderCreated"; header "eventType".
	Type string
	// Payload is encoded with protojson.Marshal (default options).
	Payload proto.Message
	// Traceparent is optional (W3C trace context); header "traceparent".
	Traceparent string
}

// validate reports the first missing field of e.
func (e Event) validate() error {
	switch {
	case e.ID == uuid.Nil:
		return errors.New("missing id")
	case e.AggregateType == "":
		return errors.New("missing aggregate type")
	case e.AggregateID == "":
		return errors.New("missing aggregate id")
	case e.Type == "":
		return errors.New("missing type")
	case e.Payload == nil:
		return errors.New("missing payload")
	}
	return nil
}

// Insert writes events into the outbox within tx, so that they are published
// if and only if tx commits. It returns an error for an event with a missing
// field or a payload that cannot be marshalled, and for any database error;
// the caller then rolls tx back.
func Insert(ctx context.Context, tx pgx.Tx, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	batch := &pgx.Batch{}
	if err := Queue(batch, events...); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("insert outbox events: %w", err)
	}
	return nil
}

// Batch queues statements: a *pgx.Batch, or an inbox consumer's queue of
// an event's effect.
type Batch interface {
	Queue(sql string, args ...any) *pgx.QueuedQuery
}

// Queue adds the inserts of events to batch, for a caller that sends them
// together with its own statements in one round trip (in its transaction).
// It is the one statement that writes outbox rows.
func Queue(batch Batch, events ...Event) error {
	for _, e := range events {
		r, err := e.row()
		if err != nil {
			return err
		}
		batch.Queue(`INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, traceparent)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			r.ID, r.AggregateType, r.AggregateID, r.Type, r.Payload, r.Traceparent)
	}
	return nil
}

// row is an event's outbox row as Queue inserts it (id, aggregatetype,
// aggregateid, type, payload, traceparent).
type row struct {
	ID            uuid.UUID
	AggregateType string
	AggregateID   string
	Type          string
	// Payload is the protojson encoding of the event's payload.
	Payload string
	// Traceparent is nil when the event has none.
	Traceparent *string
}

// row validates e and returns its outbox row.
func (e Event) row() (row, error) {
	if err := e.validate(); err != nil {
		return row{}, fmt.Errorf("outbox event %s: %w", e.ID, err)
	}
	payload, err := protojson.Marshal(e.Payload)
	if err != nil {
		return row{}, fmt.Errorf("outbox event %s: marshal payload: %w", e.ID, err)
	}
	r := row{ID: e.ID, AggregateType: e.AggregateType, AggregateID: e.AggregateID, Type: e.Type, Payload: string(payload)}
	if e.Traceparent != "" {
		r.Traceparent = &e.Traceparent
	}
	return r, nil
}
