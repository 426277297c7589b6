package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// frame is one Server-Sent Events frame: the fields of the lines up to a
// blank line. Comment lines (": keep-alive") and retry: are not kept.
type frame struct {
	ID    string
	HasID bool
	Event string
	Data  string
}

// frameReader reads frames from an SSE stream.
type frameReader struct {
	r    *bufio.Reader
	data strings.Builder
}

func newFrameReader(r io.Reader) *frameReader { return &frameReader{r: bufio.NewReaderSize(r, 16<<10)} }

// next returns the next frame that carries an id or data (frames of
// comments or retry: alone are skipped), or the reader's error (io.EOF at
// the end of the stream). A frame cut off by the end of the stream is not
// returned: the client would not dispatch it.
func (f *frameReader) next() (frame, error) {
	var fr frame
	hasData := false
	f.data.Reset()
	for {
		line, err := f.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it whole.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = f.r.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil {
			return frame{}, err
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if hasData || fr.HasID {
				fr.Data = f.data.String()
				return fr, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "id":
			fr.ID, fr.HasID = string(value), true
		case "event":
			fr.Event = string(value)
		case "data":
			if hasData {
				f.data.WriteByte('\n')
			}
			f.data.Write(value)
			hasData = true
		}
	}
}

// orderEvent is the part of an event "order"'s data (the REST Order) that
// the measurement reads.
type orderEvent struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// parseOrderEvent decodes an event "order"'s data.
func parseOrderEvent(fr frame) (orderEvent, error) {
	if fr.Event != "order" {
		return orderEvent{}, fmt.Errorf("event %q: want order", fr.Event)
	}
	var o orderEvent
	if err := json.Unmarshal([]byte(fr.Data), &o); err != nil {
		return orderEvent{}, fmt.Errorf("event order: %w", err)
	}
	if o.ID == "" || o.Status == "" || o.UpdatedAt.IsZero() {
		return orderEvent{}, fmt.Errorf("event order %.200q: missing id, status or updated_at", fr.Data)
	}
	return o, nil
}
