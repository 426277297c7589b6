package inbox

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

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
