package inbox

import (
	"bytes"
	"testing"
	"time"
)

func TestFingerprint(t *testing.T) {
	at := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	base := fingerprint(at, []byte("alice"), []byte(`{"a":1}`), map[string]string{"id": "1", "eventType": "OrderCreated"})
	tests := []struct {
		name string
		got  []byte
		same bool
	}{
		{"SameRecord", fingerprint(at, []byte("alice"), []byte(`{"a":1}`), map[string]string{"eventType": "OrderCreated", "id": "1"}), true},
		{"OtherTimestamp", fingerprint(at.Add(time.Millisecond), []byte("alice"), []byte(`{"a":1}`), map[string]string{"id": "1", "eventType": "OrderCreated"}), false},
		{"NoTimestamp", fingerprint(time.Time{}, []byte("alice"), []byte(`{"a":1}`), map[string]string{"id": "1", "eventType": "OrderCreated"}), false},
		{"OtherKey", fingerprint(at, []byte("bob"), []byte(`{"a":1}`), map[string]string{"id": "1", "eventType": "OrderCreated"}), false},
		{"OtherValue", fingerprint(at, []byte("alice"), []byte(`{"a":2}`), map[string]string{"id": "1", "eventType": "OrderCreated"}), false},
		{"OtherHeader", fingerprint(at, []byte("alice"), []byte(`{"a":1}`), map[string]string{"id": "2", "eventType": "OrderCreated"}), false},
		{"KeyValueBoundary", fingerprint(at, []byte("alice{"), []byte(`"a":1}`), map[string]string{"id": "1", "eventType": "OrderCreated"}), false},
		{"HeaderBoundary", fingerprint(at, []byte("alice"), []byte(`{"a":1}`), map[string]string{"i": "d1", "eventType": "OrderCreated"}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if same := bytes.Equal(tt.got, base); same != tt.same {
				t.Errorf("same fingerprint as the base record: %v, want %v", same, tt.same)
			}
		})
	}
}
