package inbox

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"time"
)

// fingerprint returns what tells one Kafka record from another at the same
// topic, partition and offset (dead_letters.fingerprint): a SHA-256 of its
// timestamp (zero when unknown), key, value and headers as stored, each
// length-prefixed and the headers in name order, so that two different
// records never share an encoding.
func fingerprint(timestamp time.Time, key, value []byte, headers map[string]string) []byte {
	h := sha256.New()
	var ts int64
	if !timestamp.IsZero() {
		ts = timestamp.UnixNano()
	}
	_ = binary.Write(h, binary.BigEndian, ts)
	field(h, key)
	field(h, value)
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		field(h, []byte(k))
		field(h, []byte(headers[k]))
	}
	return h.Sum(nil)
}

// field writes b length-prefixed.
func field(h hash.Hash, b []byte) {
	_ = binary.Write(h, binary.BigEndian, uint64(len(b)))
	h.Write(b)
}
