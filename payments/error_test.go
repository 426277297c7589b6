package payments

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorAccessors(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantKind    Kind
		wantReason  string
		wantMessage string
	}{
		{name: "Plain", err: errors.New("db exploded"), wantKind: KindInternal, wantReason: ReasonInternal, wantMessage: "internal error"},
		{name: "Invalid", err: Invalidf("amount bad"), wantKind: KindInvalid, wantReason: ReasonInvalidArgument, wantMessage: "amount bad"},
		{name: "WrappedConflict", err: fmt.Errorf("create: %w", Errorf(KindConflict, ReasonAccountExists, "exists")), wantKind: KindConflict, wantReason: ReasonAccountExists, wantMessage: "exists"},
		{name: "InternalHidesMessage", err: &Error{Kind: KindInternal, Reason: ReasonInternal, Message: "secret dsn"}, wantKind: KindInternal, wantReason: ReasonInternal, wantMessage: "internal error"},
		{name: "EmptyReason", err: &Error{Kind: KindNotFound, Message: "nope"}, wantKind: KindNotFound, wantReason: ReasonInternal, wantMessage: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorKind(tt.err); got != tt.wantKind {
				t.Errorf("ErrorKind() = %v, want %v", got, tt.wantKind)
			}
			if got := ErrorReason(tt.err); got != tt.wantReason {
				t.Errorf("ErrorReason() = %q, want %q", got, tt.wantReason)
			}
			if got := ErrorMessage(tt.err); got != tt.wantMessage {
				t.Errorf("ErrorMessage() = %q, want %q", got, tt.wantMessage)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := errors.New("cause")
	err := &Error{Kind: KindUnavailable, Message: "database unavailable", Err: cause}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(err, cause) = false, want true")
	}
	if got, want := err.Error(), "database unavailable: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
