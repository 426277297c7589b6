package sse

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readAll reads every frame of r up to the error that ends it.
func readAll(r io.Reader) ([]Frame, error) {
	fr := NewReader(r)
	var got []Frame
	for {
		f, err := fr.Next()
		if err != nil {
			return got, err
		}
		got = append(got, f)
	}
}

func TestReader(t *testing.T) {
	long := strings.Repeat("z", 40000)
	tests := []struct {
		name  string
		input string
		want  []Frame
	}{
		{"Opening", "retry: 2000\n\nid: 0\n\n", []Frame{{Retry: 2 * time.Second, HasRetry: true}, {ID: "0", HasID: true}}},
		{"Event", "id: 3\nevent: order\ndata: {\"a\":1}\n\n", []Frame{{ID: "3", HasID: true, Event: "order", Data: `{"a":1}`, HasData: true}}},
		{"Comment", ": keep-alive\n\n", []Frame{{Comments: []string{"keep-alive"}}}},
		{"CommentsInAnEvent", ":a\n: b\nid: 1\n:  c\nevent: order\ndata: x\n\n", []Frame{{ID: "1", HasID: true, Event: "order", Data: "x", HasData: true, Comments: []string{"a", "b", " c"}}}},
		{"CRLFAndNoSpace", "id:7\r\nevent:order\r\ndata:y\r\n\r\n", []Frame{{ID: "7", HasID: true, Event: "order", Data: "y", HasData: true}}},
		{"CR", "id: 8\revent: order\rdata: y\r\r", []Frame{{ID: "8", HasID: true, Event: "order", Data: "y", HasData: true}}},
		{"MixedLineEnds", "data: a\r\ndata: b\rdata: c\n\r\n", []Frame{{Data: "a\nb\nc", HasData: true}}},
		{"MultiLineData", "event: order\ndata: a\ndata: b\n\n", []Frame{{Event: "order", Data: "a\nb", HasData: true}}},
		{"EmptyDataLines", "data\ndata:\ndata: x\ndata: \n\n", []Frame{{Data: "\n\nx\n", HasData: true}}},
		{"EmptyData", "id: 1\ndata: \n\n", []Frame{{ID: "1", HasID: true, HasData: true}}},
		{"OneSpaceDropped", "data:  two\n\n", []Frame{{Data: " two", HasData: true}}},
		{"ColonInValue", "data: a: b\n\n", []Frame{{Data: "a: b", HasData: true}}},
		{"EmptyID", "id\n\n", []Frame{{HasID: true}}},
		{"BlankLinesSkipped", "\n\r\n\nid: 1\n\n\n\nid: 2\n\n", []Frame{{ID: "1", HasID: true}, {ID: "2", HasID: true}}},
		{"TwoFrames", "id: 1\n\nid: 2\nevent: order\ndata: q\n\n", []Frame{{ID: "1", HasID: true}, {ID: "2", HasID: true, Event: "order", Data: "q", HasData: true}}},
		{"CutOffFrameDropped", "id: 1\nevent: order\ndata: x\n\nid: 2\nevent: order\ndata: y\n", []Frame{{ID: "1", HasID: true, Event: "order", Data: "x", HasData: true}}},
		{"CutOffLineDropped", "id: 1\n\ndata: y", []Frame{{ID: "1", HasID: true}}},
		{"NoTrailingBlankLine", "data: x\n", nil},
		{"Empty", "", nil},
		{"LongLine", "event: order\ndata: " + long + "\n\n", []Frame{{Event: "order", Data: long, HasData: true}}},
		{"UnknownFieldIgnored", "foo: bar\nid: 2\n\n", []Frame{{ID: "2", HasID: true}}},
		{"IDWithNULIgnored", "id: 1\x002\ndata: x\n\n", []Frame{{Data: "x", HasData: true}}},
		{"RetryNotANumberIgnored", "retry: 1.5\ndata: x\n\nretry: -1\ndata: y\n\nretry:\ndata: z\n\n", []Frame{{Data: "x", HasData: true}, {Data: "y", HasData: true}, {Data: "z", HasData: true}}},
		{"RetryZero", "retry: 0\n\n", []Frame{{HasRetry: true}}},
		{"ByteOrderMark", "\uFEFFid: 1\n\n", []Frame{{ID: "1", HasID: true}}},
		{"ByteOrderMarkOnlyFirst", "id: 1\n\n\uFEFFid: 2\n\n", []Frame{{ID: "1", HasID: true}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and a byte at a time (a "\r\n" split between reads).
			for _, r := range []io.Reader{strings.NewReader(tt.input), iotest.OneByteReader(strings.NewReader(tt.input))} {
				got, err := readAll(r)
				if !errors.Is(err, io.EOF) {
					t.Errorf("ended with %v, want io.EOF", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("frames (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   io.Reader
		want    []Frame
		wantErr error
	}{
		{"BrokenStream", io.MultiReader(strings.NewReader("id: 1\n\nid: 2\n"), iotest.ErrReader(io.ErrUnexpectedEOF)),
			[]Frame{{ID: "1", HasID: true}}, io.ErrUnexpectedEOF},
		{"LineTooLong", strings.NewReader("id: 1\n\ndata: " + strings.Repeat("x", MaxLine) + "\n\n"),
			[]Frame{{ID: "1", HasID: true}}, bufio.ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(tt.input)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ended with %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

// What the Append functions frame, the reader reads back: each frame
// alone, and all of them as one stream.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  Frame
	}{
		{"Event", AppendEvent(nil, "7", "order", []byte(`{"id":"x"}`)), Frame{ID: "7", HasID: true, Event: "order", Data: `{"id":"x"}`, HasData: true}},
		{"EmptyData", AppendEvent(nil, "1", "order", nil), Frame{ID: "1", HasID: true, Event: "order", HasData: true}},
		{"MultiLineData", AppendEvent(nil, "2", "order", []byte("a\nb\n")), Frame{ID: "2", HasID: true, Event: "order", Data: "a\nb\n", HasData: true}},
		{"CRLFData", AppendEvent(nil, "3", "order", []byte("a\r\nb\rc")), Frame{ID: "3", HasID: true, Event: "order", Data: "a\nb\nc", HasData: true}},
		{"DataLikeFields", AppendEvent(nil, "4", "order", []byte("id: 9\n\n: x\ndata: y")), Frame{ID: "4", HasID: true, Event: "order", Data: "id: 9\n\n: x\ndata: y", HasData: true}},
		{"Comment", AppendComment(nil, "keep-alive"), Frame{Comments: []string{"keep-alive"}}},
		{"Retry", AppendRetry(nil, 2500*time.Millisecond), Frame{Retry: 2500 * time.Millisecond, HasRetry: true}},
		{"RetryWholeMilliseconds", AppendRetry(nil, 1500*time.Microsecond), Frame{Retry: time.Millisecond, HasRetry: true}},
		{"ID", AppendID(nil, "42"), Frame{ID: "42", HasID: true}},
	}
	var stream []byte
	var all []Frame
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAll(strings.NewReader(string(tt.frame)))
			if !errors.Is(err, io.EOF) {
				t.Errorf("ended with %v, want io.EOF", err)
			}
			if diff := cmp.Diff([]Frame{tt.want}, got); diff != "" {
				t.Errorf("frame %q read back (-want +got):\n%s", tt.frame, diff)
			}
		})
		stream = append(stream, tt.frame...)
		all = append(all, tt.want)
	}
	t.Run("OneStream", func(t *testing.T) {
		got, err := readAll(iotest.HalfReader(strings.NewReader(string(stream))))
		if !errors.Is(err, io.EOF) {
			t.Errorf("ended with %v, want io.EOF", err)
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("frames (-want +got):\n%s", diff)
		}
	})
}
