package inbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/sourcecontextpb"
)

func TestEffectsApply(t *testing.T) {
	var called string
	h := Effects{
		"A": func(context.Context, *Queue, Message) error { called = "A"; return nil },
		"B": func(context.Context, *Queue, Message) error { called = "B"; return nil },
	}
	tests := []struct {
		name            string
		typ             string
		wantCalled      string
		wantUndecodable bool
		wantUnknownType bool
	}{
		{name: "A", typ: "A", wantCalled: "A"},
		{name: "B", typ: "B", wantCalled: "B"},
		{name: "ErrUnknownType", typ: "C", wantUndecodable: true, wantUnknownType: true},
		{name: "ErrNoType", typ: "", wantUndecodable: true, wantUnknownType: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called = ""
			err := h.Apply(context.Background(), nil, Message{Type: tt.typ})
			if got := IsUndecodable(err); got != tt.wantUndecodable {
				t.Errorf("Apply() = %v, undecodable %t, want %t", err, got, tt.wantUndecodable)
			}
			if got := errors.Is(err, ErrUnknownEventType); got != tt.wantUnknownType {
				t.Errorf("Apply() = %v, ErrUnknownEventType %t, want %t", err, got, tt.wantUnknownType)
			}
			if tt.wantUnknownType && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.typ)) {
				t.Errorf("Apply() = %v, want the type %q named", err, tt.typ)
			}
			if called != tt.wantCalled {
				t.Errorf("called %q, want %q", called, tt.wantCalled)
			}
		})
	}
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name            string
		value           string
		wantUndecodable bool
	}{
		{name: "OK", value: `{"file_name": "x"}`},
		{name: "UnknownFieldIgnored", value: `{"file_name": "x", "added_later": 1}`},
		{name: "ErrMalformed", value: `{"file_name": `, wantUndecodable: true},
		{name: "ErrWrongType", value: `{"file_name": 1}`, wantUndecodable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst sourcecontextpb.SourceContext
			err := Unmarshal(Message{Type: "T", Value: []byte(tt.value)}, &dst)
			if (err != nil) != tt.wantUndecodable || (err != nil && !IsUndecodable(err)) {
				t.Errorf("Unmarshal(%s) = %v, want undecodable %t", tt.value, err, tt.wantUndecodable)
			}
		})
	}
}
