package inbox

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Handlers maps an event type (the header eventType, one of the constants
// next to the messages in shop/proto) to the function that applies it.
// Adding an event type to a consumer is one entry here.
type Handlers map[string]ApplyFunc

// Apply is the ApplyFunc of the table: it calls the handler of m.Type. A
// message of a type the table does not know can never be applied: it is
// Undecodable.
func (h Handlers) Apply(ctx context.Context, tx pgx.Tx, m Message) error {
	apply, ok := h[m.Type]
	if !ok {
		return Undecodable(fmt.Errorf("unknown event type %q", m.Type))
	}
	return apply(ctx, tx, m)
}

// unmarshal ignores unknown fields: a producer may add a field without
// dead-lettering every event of a consumer that does not know it yet.
var unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// Unmarshal decodes m's value, protojson as the outbox wrote it, into dst.
// Unknown fields are ignored; JSON that is not the message is an Undecodable
// error. Required fields are the caller's to validate.
func Unmarshal(m Message, dst proto.Message) error {
	if err := unmarshal.Unmarshal(m.Value, dst); err != nil {
		return Undecodable(fmt.Errorf("decode %s: %w", m.Type, err))
	}
	return nil
}
