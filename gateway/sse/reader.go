package sse

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// MaxLine is the longest line a Reader accepts; a longer one ends the
// stream with bufio.ErrTooLong.
const MaxLine = 1 << 20

// Frame is one frame of a stream as a client reads it: the lines up to a
// blank line. It may hold an event (data with its id and type), an id
// alone, a retry, comments, or any of them together.
type Frame struct {
	// ID is the value of the id: line; HasID tells an empty id from none.
	ID    string
	HasID bool
	// Event is the event type (event:), empty when the frame gives none.
	Event string
	// Data is the value of the data: lines joined by "\n"; HasData tells
	// an empty data line from none.
	Data    string
	HasData bool
	// Retry is the reconnection delay of the retry: line, when HasRetry.
	Retry    time.Duration
	HasRetry bool
	// Comments are the texts of the comment lines (": keep-alive"), in
	// order.
	Comments []string
}

// Reader reads the frames of an event stream. It is not safe for
// concurrent use.
type Reader struct {
	lines *bufio.Scanner
	data  strings.Builder
	first bool
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 16<<10), MaxLine)
	s.Split(scanLines)
	return &Reader{lines: s, first: true}
}

// Next returns the next frame. Blank lines that end no field or comment
// are skipped. At the end of the stream it returns io.EOF, or the error
// that ended it; a frame that the end cuts off (no blank line after it)
// is not returned, as a client would not dispatch it.
//
// Lines end with "\r\n", "\n" or "\r". A line is "field: value" (one
// space after the colon is dropped), "field" alone (an empty value), or
// a comment (": text"). Fields other than id, event, data and retry are
// ignored, as are an id that holds a NUL and a retry that is not a
// decimal number.
func (r *Reader) Next() (Frame, error) {
	var f Frame
	lines := 0
	r.data.Reset()
	for r.lines.Scan() {
		line := r.lines.Bytes()
		if r.first {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
			r.first = false
		}
		if len(line) == 0 {
			if lines == 0 {
				continue
			}
			f.Data = r.data.String()
			return f, nil
		}
		lines++
		if line[0] == ':' {
			f.Comments = append(f.Comments, string(bytes.TrimPrefix(line[1:], []byte(" "))))
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				f.ID, f.HasID = string(value), true
			}
		case "event":
			f.Event = string(value)
		case "data":
			if f.HasData {
				r.data.WriteByte('\n')
			}
			r.data.Write(value)
			f.HasData = true
		case "retry":
			if ms, ok := decimal(value); ok {
				f.Retry, f.HasRetry = time.Duration(ms)*time.Millisecond, true
			}
		}
	}
	if err := r.lines.Err(); err != nil {
		return Frame{}, err
	}
	return Frame{}, io.EOF
}

// decimal parses ASCII digits alone into a number of milliseconds that a
// time.Duration holds.
func decimal(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(time.Duration(1<<63-1)/time.Millisecond) {
		return 0, false
	}
	return n, true
}

// scanLines splits at "\r\n", "\n" or "\r". A "\r" at the end of the data
// read so far waits for the next byte, which may be its "\n".
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	end := len(data)
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		end = i
	}
	if i := bytes.IndexByte(data[:end], '\r'); i >= 0 {
		switch {
		case i+1 < len(data) && data[i+1] == '\n':
			return i + 2, data[:i], nil
		case i+1 < len(data) || atEOF:
			return i + 1, data[:i], nil
		default:
			return 0, nil, nil
		}
	}
	if end < len(data) {
		return end + 1, data[:end], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil // a last line cut off: its frame is never ended
	}
	return 0, nil, nil
}
