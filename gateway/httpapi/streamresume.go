package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// HeaderLastEventID is the header with which an EventSource resumes.
const HeaderLastEventID = "Last-Event-ID"

// MaxChangeNumber is the largest Last-Event-ID accepted: 2^53-1, the
// largest integer a JavaScript client holds exactly.
const MaxChangeNumber = 1<<53 - 1

// errBadLastEventID answers a malformed Last-Event-ID or last_event_id.
var errBadLastEventID = errors.New("Last-Event-ID must be a change number: an integer from 0 to 9007199254740991")

// lastEventID returns the change number to resume after: the
// Last-Event-ID header, else the last_event_id query parameter, else nil
// (no resume). Each one given must be well formed, even when the header
// wins.
func lastEventID(r *http.Request) (*int64, error) {
	var fromQuery *int64
	if _, ok := r.URL.Query()["last_event_id"]; ok {
		q, err := singleQuery(r, "last_event_id")
		if err != nil {
			return nil, err
		}
		if fromQuery, err = changeNumber(q); err != nil {
			return nil, err
		}
	}
	switch vals := r.Header.Values(HeaderLastEventID); len(vals) {
	case 0:
		return fromQuery, nil
	case 1:
		return changeNumber(vals[0])
	default:
		return nil, errors.New("Last-Event-ID must be given once")
	}
}

// changeNumber parses decimal digits (no sign, no spaces) of an integer
// from 0 to MaxChangeNumber.
func changeNumber(s string) (*int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return nil, errBadLastEventID
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxChangeNumber {
		return nil, errBadLastEventID
	}
	return &n, nil
}
