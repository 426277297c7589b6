package inbox

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestParseCreatedAt(t *testing.T) {
	want := time.Date(2026, 11, 28, 8, 16, 20, 355447000, time.UTC)
	for _, tt := range []struct {
		name, header string
		want         time.Time
	}{
		{"Debezium", "2026-11-28T08:16:20.355447Z", want},
		{"NoFraction", "2026-11-28T08:16:20Z", want.Truncate(time.Second)},
		{"Offset", "2026-11-28T09:16:20.355447+01:00", want},
		{"JSONQuoted", `"2026-11-28T08:16:20.355447Z"`, want},
		{"Garbage", "yesterday", time.Time{}},
		{"Empty", "", time.Time{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &sarama.ConsumerMessage{Headers: []*sarama.RecordHeader{
				{Key: []byte(HeaderID), Value: []byte("5bed3540-30d6-4bcd-b80e-03cdfcc400bc")},
				{Key: []byte(HeaderCreatedAt), Value: []byte(tt.header)},
			}}
			got, err := parseMessage(m)
			if err != nil {
				t.Fatalf("parseMessage() = %v, want no error: createdAt never rejects a message", err)
			}
			if !got.CreatedAt.Equal(tt.want) {
				t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, tt.want)
			}
		})
	}
}
