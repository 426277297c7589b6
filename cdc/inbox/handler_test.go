package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/service"
)

func hdr(k, v string) *sarama.RecordHeader {
	return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)}
}

func TestParseMessage(t *testing.T) {
	id := uuid.MustParse("0190a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
	base := func(hs ...*sarama.RecordHeader) *sarama.ConsumerMessage {
		return &sarama.ConsumerMessage{Topic: "orders.events", Partition: 2, Offset: 41, Key: []byte("alice"), Value: []byte(`{"a":1}`), Headers: hs}
	}
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const tp2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01"
	want := Message{EventID: id, Type: "OrderCreated", Key: "alice", Value: []byte(`{"a":1}`), Topic: "orders.events", Partition: 2, Offset: 41}
	tests := []struct {
		name    string
		msg     *sarama.ConsumerMessage
		want    Message
		wantErr bool
	}{
		{name: "OK", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated")), want: want},
		{name: "OKQuotedJSONHeader", msg: base(hdr("id", `"`+id.String()+`"`), hdr("eventType", `"OrderCreated"`)), want: want},
		{name: "OKTraceparent", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", tp)),
			want: func() Message { m := want; m.Traceparent = tp; return m }()},
		{name: "OKRepeatedSameTraceparent", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", tp), hdr("traceparent", tp)),
			want: func() Message { m := want; m.Traceparent = tp; return m }()},
		{name: "OKBadTraceparentDropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", "00-abc-def-01")), want: want},
		{name: "OKTraceparentWithNULDropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", tp[:20]+"\x00"+tp[21:])), want: want},
		{name: "OKTraceparentInvalidUTF8Dropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", "\xff\xfe")), want: want},
		{name: "OKConflictingTraceparentsDropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", tp), hdr("traceparent", tp2)), want: want},
		{name: "OKInvalidThenValidTraceparentDropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("traceparent", "x"), hdr("traceparent", tp)), want: want},
		{name: "OKNoEventType", msg: base(hdr("id", id.String())), want: func() Message { m := want; m.Type = ""; return m }()},
		{name: "OKNoKey", msg: func() *sarama.ConsumerMessage {
			m := base(hdr("id", id.String()), hdr("eventType", "OrderCreated"))
			m.Key = nil
			return m
		}(),
			want: func() Message { m := want; m.Key = ""; return m }()},
		{name: "OKUnicodeKey", msg: func() *sarama.ConsumerMessage {
			m := base(hdr("id", id.String()), hdr("eventType", "OrderCreated"))
			m.Key = []byte("алиса")
			return m
		}(), want: func() Message { m := want; m.Key = "алиса"; return m }()},
		{name: "OKNilHeaderIgnored", msg: base(nil, hdr("id", id.String()), hdr("eventType", "OrderCreated")), want: want},
		{name: "ErrRepeatedSameID", msg: base(hdr("id", id.String()), hdr("id", id.String()), hdr("eventType", "OrderCreated")), wantErr: true},
		{name: "ErrRepeatedSameEventType", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("eventType", "OrderCreated")), wantErr: true},
		{name: "OKCreatedAt", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("createdAt", "2026-11-28T08:16:20.355447Z")),
			want: func() Message {
				m := want
				m.CreatedAt = time.Date(2026, 11, 28, 8, 16, 20, 355447000, time.UTC)
				return m
			}()},
		{name: "OKRepeatedCreatedAtDropped", msg: base(hdr("id", id.String()), hdr("eventType", "OrderCreated"), hdr("createdAt", "2026-11-28T08:16:20Z"), hdr("createdAt", "2026-11-28T08:16:21Z")), want: want},
		{name: "ErrMissingID", msg: base(hdr("eventType", "OrderCreated")), wantErr: true},
		{name: "ErrEmptyID", msg: base(hdr("id", "")), wantErr: true},
		{name: "ErrGarbageID", msg: base(hdr("id", "not-a-uuid")), wantErr: true},
		{name: "ErrNilUUID", msg: base(hdr("id", uuid.Nil.String())), wantErr: true},
		{name: "ErrConflictingIDs", msg: base(hdr("id", id.String()), hdr("id", uuid.NewString())), wantErr: true},
		{name: "ErrIDHeaderCaseSensitive", msg: base(hdr("ID", id.String())), wantErr: true},
		{name: "ErrEventTypeNUL", msg: base(hdr("id", id.String()), hdr("eventType", "Order\x00Created")), wantErr: true},
		{name: "ErrEventTypeInvalidUTF8", msg: base(hdr("id", id.String()), hdr("eventType", "Order\xffCreated")), wantErr: true},
		{name: "ErrEventTypeNotASCII", msg: base(hdr("id", id.String()), hdr("eventType", "Заказ")), wantErr: true},
		{name: "ErrEventTypeControl", msg: base(hdr("id", id.String()), hdr("eventType", "Order\nCreated")), wantErr: true},
		{name: "ErrEventTypeTooLong", msg: base(hdr("id", id.String()), hdr("eventType", strings.Repeat("A", MaxEventTypeLen+1))), wantErr: true},
		{name: "ErrConflictingEventTypes", msg: base(hdr("id", id.String()), hdr("eventType", "A"), hdr("eventType", "B")), wantErr: true},
		{name: "ErrIDWithNUL", msg: base(hdr("id", id.String()[:8]+"\x00"+id.String()[9:])), wantErr: true},
		{name: "ErrKeyNUL", msg: func() *sarama.ConsumerMessage {
			m := base(hdr("id", id.String()))
			m.Key = []byte("al\x00ice")
			return m
		}(), wantErr: true},
		{name: "ErrKeyInvalidUTF8", msg: func() *sarama.ConsumerMessage { m := base(hdr("id", id.String())); m.Key = []byte{0xff, 'a'}; return m }(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMessage(tt.msg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("parseMessage() error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseMessage() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidTraceparent(t *testing.T) {
	const ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "OK", in: ok, want: ok},
		{name: "OKNotSampled", in: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", want: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"},
		{name: "OKLaterVersionExtraFieldsCut", in: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever", want: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{name: "OKLaterVersionExact", in: "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", want: "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{name: "ErrEmpty", in: ""},
		{name: "ErrShort", in: "00-abc-def-01"},
		{name: "ErrVersion00TooLong", in: ok + "-x"},
		{name: "ErrLaterVersionNoDash", in: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x"},
		{name: "ErrVersionFF", in: "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{name: "ErrUppercase", in: "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01"},
		{name: "ErrZeroTraceID", in: "00-00000000000000000000000000000000-b7ad6b7169203331-01"},
		{name: "ErrZeroParentID", in: "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01"},
		{name: "ErrNotHex", in: "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01"},
		{name: "ErrWrongSeparator", in: "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{name: "ErrNUL", in: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0\x00"},
		{name: "ErrInvalidUTF8", in: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333\xff-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := validTraceparent(tt.in); got != tt.want {
				t.Errorf("validTraceparent(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDrain(t *testing.T) {
	msg := func(off int64) *sarama.ConsumerMessage { return &sarama.ConsumerMessage{Offset: off} }
	tests := []struct {
		name        string
		buffered    int
		closed      bool
		max         int
		wantOffsets []int64
		wantOpen    bool
		wantLeft    int
	}{
		{name: "EmptyChannel", buffered: 0, max: 4, wantOffsets: []int64{0}, wantOpen: true},
		{name: "FewerThanMax", buffered: 2, max: 4, wantOffsets: []int64{0, 1, 2}, wantOpen: true},
		{name: "ExactlyMax", buffered: 3, max: 4, wantOffsets: []int64{0, 1, 2, 3}, wantOpen: true},
		{name: "MoreThanMaxLeavesRest", buffered: 6, max: 4, wantOffsets: []int64{0, 1, 2, 3}, wantOpen: true, wantLeft: 3},
		{name: "MaxOne", buffered: 2, max: 1, wantOffsets: []int64{0}, wantOpen: true, wantLeft: 2},
		{name: "ClosedAfterBuffered", buffered: 2, closed: true, max: 4, wantOffsets: []int64{0, 1, 2}, wantOpen: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := make(chan *sarama.ConsumerMessage, 10)
			for i := 1; i <= tt.buffered; i++ {
				ch <- msg(int64(i))
			}
			if tt.closed {
				close(ch)
			}
			got, open := drain(ch, []*sarama.ConsumerMessage{msg(0)}, tt.max)
			var offsets []int64
			for _, m := range got {
				offsets = append(offsets, m.Offset)
			}
			if diff := cmp.Diff(tt.wantOffsets, offsets); diff != "" {
				t.Errorf("drain() offsets (-want +got):\n%s", diff)
			}
			if open != tt.wantOpen {
				t.Errorf("drain() open = %t, want %t", open, tt.wantOpen)
			}
			if len(ch) != tt.wantLeft {
				t.Errorf("left in channel = %d, want %d", len(ch), tt.wantLeft)
			}
		})
	}
}

func TestUndecodable(t *testing.T) {
	base := errors.New("bad json")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "Nil", err: nil, want: false},
		{name: "Plain", err: base, want: false},
		{name: "Marked", err: Undecodable(base), want: true},
		{name: "MarkedAndWrapped", err: fmt.Errorf("apply: %w", Undecodable(base)), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUndecodable(tt.err); got != tt.want {
				t.Errorf("IsUndecodable(%v) = %t, want %t", tt.err, got, tt.want)
			}
		})
	}
	if Undecodable(nil) != nil {
		t.Errorf("Undecodable(nil) = non-nil, want nil")
	}
	if !errors.Is(Undecodable(base), base) {
		t.Errorf("Undecodable(err) does not unwrap to err")
	}
}

func TestHeaderMap(t *testing.T) {
	got := headerMap([]*sarama.RecordHeader{
		hdr("id", "abc"),
		nil,
		{Key: []byte("bin"), Value: []byte{0xff, 0x00}},
		{Key: []byte("nul"), Value: []byte("a\x00b")},
		hdr("dup", "1"),
		hdr("dup", "2"),
		hdr("dup", "3"),
	})
	want := map[string]string{"id": "abc", "bin": "base64:/wA=", "nul": "base64:YQBi", "dup": "1", "dup#2": "2", "dup#3": "3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headerMap() (-want +got):\n%s", diff)
	}
	for key, name := range map[string]string{"dup": "dup", "dup#2": "dup", "dup#10": "dup", "dup#1": "dup#1", "dup#02": "dup#02", "dup#x": "dup#x", "a#b#2": "a#b"} {
		if got := repeatedHeader(key); got != name {
			t.Errorf("repeatedHeader(%q) = %q, want %q", key, got, name)
		}
	}
}

func TestSanitizeText(t *testing.T) {
	if got, want := sanitizeText("a\x00b\xffc"), "a\uFFFDb\uFFFDc"; got != want {
		t.Errorf("sanitizeText() = %q, want %q", got, want)
	}
}

func TestNewValidates(t *testing.T) {
	pool := &pgxpool.Pool{} // never used: New does not connect
	apply := func(context.Context, pgx.Tx, Message) error { return nil }
	effect := func(context.Context, *Queue, Message) error { return nil }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ok := Config{Kafka: service.Kafka{Brokers: []string{"127.0.0.1:9092"}}, Group: "g", Topic: "t", Pool: pool, Apply: apply, Logger: logger}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr bool
	}{
		{name: "OK", mutate: func(*Config) {}},
		{name: "ErrNoBrokers", mutate: func(c *Config) { c.Kafka.Brokers = nil }, wantErr: true},
		{name: "ErrKafkaPasswordFile", mutate: func(c *Config) {
			c.Kafka.SASLUsername, c.Kafka.SASLPasswordFile = "orders", "/nonexistent/kafka-password"
		}, wantErr: true},
		{name: "ErrNoGroup", mutate: func(c *Config) { c.Group = "" }, wantErr: true},
		{name: "ErrNoTopic", mutate: func(c *Config) { c.Topic = "" }, wantErr: true},
		{name: "ErrNoPool", mutate: func(c *Config) { c.Pool = nil }, wantErr: true},
		{name: "ErrNoApply", mutate: func(c *Config) { c.Apply = nil }, wantErr: true},
		{name: "OKEffect", mutate: func(c *Config) { c.Apply, c.Effect = nil, effect }},
		{name: "ErrEffectAndApply", mutate: func(c *Config) { c.Effect = effect }, wantErr: true},
		{name: "ErrNoLogger", mutate: func(c *Config) { c.Logger = nil }, wantErr: true},
		{name: "ErrNegativeBatch", mutate: func(c *Config) { c.BatchSize = -1 }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mutate(&cfg)
			c, err := New(cfg)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("New() error = %v, want error %t", err, tt.wantErr)
			}
			if err == nil && c.cfg.Apply == nil {
				t.Error("Apply = nil, want the effect's when only Effect is set")
			}
			if err == nil && c.cfg.BatchSize != DefaultBatchSize {
				t.Errorf("BatchSize = %d, want default %d", c.cfg.BatchSize, DefaultBatchSize)
			}
		})
	}
}
