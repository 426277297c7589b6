package inbox

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
)

// Header names set by Debezium's Outbox Event Router.
const (
	HeaderID          = "id"
	HeaderEventType   = "eventType"
	HeaderTraceparent = "traceparent"
	// HeaderCreatedAt is the outbox row's created_at, an RFC 3339 time
	// (Debezium renders timestamptz as e.g. "2026-11-28T08:16:20.355447Z").
	HeaderCreatedAt = "createdAt"
)

// MaxEventTypeLen bounds the header eventType.
const MaxEventTypeLen = 128

// parseMessage converts m into a Message, validating every header and the
// key before any of them can reach SQL. It fails, and the message is
// dead-lettered, when the message can never be applied exactly once or
// dispatched: the "id" header missing, repeated (even with the same value:
// the pipeline never repeats it, so a repeat is a message from elsewhere),
// or not a non-zero UUID; the "eventType" header repeated, or not printable
// ASCII of at most MaxEventTypeLen bytes; the key not valid UTF-8 or holding
// a NUL. A "traceparent" that is not a W3C trace context, or that conflicts
// with another, is dropped (Message.Traceparent empty): tracing is best
// effort and never a reason to withhold an effect. A "createdAt" that is not
// an RFC 3339 time, or that is repeated, is dropped the same way
// (Message.CreatedAt zero): no repeated header is read for its last value.
func parseMessage(m *sarama.ConsumerMessage) (Message, error) {
	var idRaw, typ, traceparent string
	var createdAt time.Time
	var haveID, haveType, haveCreatedAt, badTrace bool
	for _, h := range m.Headers {
		if h == nil {
			continue
		}
		v := headerValue(h.Value)
		switch string(h.Key) {
		case HeaderID:
			if haveID {
				return Message{}, fmt.Errorf("repeated %q header: a message carries one event id", HeaderID)
			}
			idRaw, haveID = v, true
		case HeaderEventType:
			if haveType {
				return Message{}, fmt.Errorf("repeated %q header: a message carries one event type", HeaderEventType)
			}
			typ, haveType = v, true
		case HeaderTraceparent:
			tp := validTraceparent(v)
			if tp == "" || traceparent != "" && tp != traceparent {
				badTrace = true
			}
			traceparent = tp
		case HeaderCreatedAt:
			createdAt = parseCreatedAt(v)
			if haveCreatedAt {
				createdAt = time.Time{}
			}
			haveCreatedAt = true
		}
	}
	if !haveID {
		return Message{}, fmt.Errorf("missing %q header", HeaderID)
	}
	id, err := uuid.Parse(idRaw)
	if err != nil || id == uuid.Nil {
		return Message{}, fmt.Errorf("invalid %q header %q: not a non-zero UUID", HeaderID, sanitizeText(idRaw))
	}
	if !printableASCII(typ, MaxEventTypeLen) {
		return Message{}, fmt.Errorf("invalid %q header %q: not printable ASCII of at most %d bytes",
			HeaderEventType, sanitizeText(truncate(typ, MaxEventTypeLen)), MaxEventTypeLen)
	}
	if !validText(m.Key) {
		return Message{}, fmt.Errorf("invalid key %q: not UTF-8 text without NUL", sanitizeText(truncate(string(m.Key), 64)))
	}
	if badTrace {
		traceparent = ""
	}
	return Message{
		EventID:     id,
		Type:        typ,
		Key:         string(m.Key),
		Value:       m.Value,
		Topic:       m.Topic,
		Partition:   m.Partition,
		Offset:      m.Offset,
		Traceparent: traceparent,
		CreatedAt:   createdAt,
	}, nil
}

// parseCreatedAt returns the time in a createdAt header, or the zero time
// when v is not an RFC 3339 time: the header only feeds a metric and is
// never a reason to withhold an effect.
func parseCreatedAt(v string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// validTraceparent returns the W3C trace-context traceparent in v
// (https://www.w3.org/TR/trace-context/#traceparent-header): version "-"
// trace-id "-" parent-id "-" flags, in lowercase hex, the version not "ff",
// neither id all zeros. Version 00 is exactly 55 characters; a later version
// may append "-" and more fields, which are cut off, as the
// recommendation says to parse such a header. It returns "" when v is not
// one.
func validTraceparent(v string) string {
	const size = 55 // 2 + 1 + 32 + 1 + 16 + 1 + 2
	if len(v) < size || len(v) > size && (v[:2] == "00" || v[size] != '-') {
		return ""
	}
	v = v[:size]
	version, traceID, parentID, flags := v[0:2], v[3:35], v[36:52], v[53:55]
	if v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return ""
	}
	for _, f := range []string{version, traceID, parentID, flags} {
		if !lowerHex(f) {
			return ""
		}
	}
	if version == "ff" || strings.Trim(traceID, "0") == "" || strings.Trim(parentID, "0") == "" {
		return ""
	}
	return v
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// printableASCII reports whether s is at most max bytes of printable ASCII
// (space to tilde); the empty string is.
func printableASCII(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// validText reports whether b can be stored in a Postgres text column:
// valid UTF-8 without NUL.
func validText(b []byte) bool {
	return utf8.Valid(b) && !strings.ContainsRune(string(b), 0)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// headerValue returns a header value as a string. Kafka Connect's JSON
// header converter quotes strings; a quoted JSON string is unquoted.
func headerValue(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var u string
		if json.Unmarshal([]byte(s), &u) == nil {
			return u
		}
	}
	return s
}

// headerMap renders headers for the dead_letters.headers jsonb column. A
// value that is not valid UTF-8 or contains NUL (which jsonb rejects) is
// stored as "base64:" followed by its standard base64 encoding. A repeated
// key keeps every value: the n-th occurrence (n >= 2) is stored under
// key#n (repeatedHeader), so that an operator sees them all and a replay
// (loadDeadLetter) rebuilds the repetition.
func headerMap(hs []*sarama.RecordHeader) map[string]string {
	out := make(map[string]string, len(hs))
	seen := make(map[string]int, len(hs))
	for _, h := range hs {
		if h == nil {
			continue
		}
		k := sanitizeText(string(h.Key))
		seen[k]++
		if n := seen[k]; n > 1 {
			k = fmt.Sprintf("%s%s%d", k, repeatMark, n)
		}
		out[k] = jsonSafe(h.Value)
	}
	return out
}

// repeatMark separates a repeated header's name from its occurrence in
// dead_letters.headers.
const repeatMark = "#"

// repeatedHeader returns the header name of a dead_letters.headers key:
// name#n (n >= 2) is the n-th occurrence of name.
func repeatedHeader(key string) string {
	i := strings.LastIndex(key, repeatMark)
	if i < 0 {
		return key
	}
	name, n := key[:i], key[i+len(repeatMark):]
	if i, err := strconv.Atoi(n); err != nil || i < 2 || strconv.Itoa(i) != n {
		return key
	}
	return name
}

func jsonSafe(b []byte) string {
	if validText(b) {
		return string(b)
	}
	return "base64:" + base64.StdEncoding.EncodeToString(b)
}

// sanitizeText makes s storable in a Postgres text column: valid UTF-8
// without NUL.
func sanitizeText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
