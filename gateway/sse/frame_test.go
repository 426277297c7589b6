package sse

import (
	"testing"
	"time"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name      string
		id, event string
		data      string
		want      string
	}{
		{"OneLine", "7", "order", `{"id":"x"}`, "id: 7\nevent: order\ndata: {\"id\":\"x\"}\n\n"},
		{"Empty", "1", "order", "", "id: 1\nevent: order\ndata: \n\n"},
		{"LineFeeds", "2", "order", "a\nb\n", "id: 2\nevent: order\ndata: a\ndata: b\ndata: \n\n"},
		{"CRLF", "3", "order", "a\r\nb", "id: 3\nevent: order\ndata: a\ndata: b\n\n"},
		{"CR", "4", "order", "a\rb", "id: 4\nevent: order\ndata: a\ndata: b\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(AppendEvent([]byte("prefix|"), tt.id, tt.event, []byte(tt.data)))
			if want := "prefix|" + tt.want; got != want {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
}

func TestAppendControlFrames(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"Comment", AppendComment(nil, "keep-alive"), ": keep-alive\n\n"},
		{"Retry", AppendRetry(nil, 2500*time.Millisecond), "retry: 2500\n\n"},
		{"ID", AppendID(nil, "42"), "id: 42\n\n"},
		{"IDZero", AppendID(nil, "0"), "id: 0\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if string(tt.got) != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
