// Package sse writes and reads Server-Sent Events (text/event-stream, the
// format an EventSource reads): the frames of a stream, two writers that
// send them to a client within a write timeout (a chunked HTTP/1.1
// response on a hijacked connection, or an http.ResponseWriter such as
// an HTTP/2 stream's), and a reader that parses a stream back into frames.
//
// What the Append functions frame, Reader reads back unchanged.
package sse

import (
	"strconv"
	"time"
)

// AppendEvent appends one event frame to b: its id, its type and data,
// one data line per line of data (a line break in data would otherwise
// end the frame; "\r\n", "\r" and "\n" each break a line, and the reader
// joins the lines with "\n").
func AppendEvent(b []byte, id, event string, data []byte) []byte {
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: "...)
	b = append(b, event...)
	b = append(b, '\n')
	for {
		line := data
		i := indexLineBreak(data)
		if i >= 0 {
			line = data[:i]
		}
		b = append(b, "data: "...)
		b = append(b, line...)
		b = append(b, '\n')
		if i < 0 {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

func indexLineBreak(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// AppendComment appends a comment frame, which a client ignores (a
// keep-alive for the proxies on the way). text must not break a line.
func AppendComment(b []byte, text string) []byte {
	b = append(b, ": "...)
	b = append(b, text...)
	return append(b, "\n\n"...)
}

// AppendRetry appends a frame that advises the client's reconnection
// delay, in whole milliseconds.
func AppendRetry(b []byte, d time.Duration) []byte {
	b = append(b, "retry: "...)
	b = strconv.AppendInt(b, d.Milliseconds(), 10)
	return append(b, "\n\n"...)
}

// AppendID appends a frame with an id and no data: it sets the client's
// last event id (where an EventSource resumes) without an event.
func AppendID(b []byte, id string) []byte {
	b = append(b, "id: "...)
	b = append(b, id...)
	return append(b, "\n\n"...)
}
