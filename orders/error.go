package orders

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the caller. The gRPC layer maps kinds to
// status codes in one place (grpcapi).
type Kind int

// The error kinds of the orders service.
const (
	// KindInternal is a failure the caller cannot fix; its message is never
	// shown to the caller.
	KindInternal Kind = iota
	// KindInvalid is a malformed request.
	KindInvalid
	// KindNotFound is an unknown order, or an order of another user.
	KindNotFound
	// KindConflict is a request that conflicts with one in flight, such as
	// a repeat of an idempotency key whose first request has not finished.
	KindConflict
	// KindFailedPrecondition is a well-formed request the current state
	// refuses, such as an idempotency key reused with another request.
	KindFailedPrecondition
	// KindUnavailable is a dependency (the database) that cannot be reached;
	// retrying later may succeed.
	KindUnavailable
)

var kindNames = [...]string{
	KindInternal:           "internal",
	KindInvalid:            "invalid",
	KindNotFound:           "not found",
	KindConflict:           "conflict",
	KindFailedPrecondition: "failed precondition",
	KindUnavailable:        "unavailable",
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Machine-readable reasons, sent to clients next to the kind.
const (
	// ReasonIdempotencyKeyReused: the key was first used with another request.
	ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	// ReasonIdempotencyKeyInUse: the first request with the key is still in
	// flight and did not finish within the wait.
	ReasonIdempotencyKeyInUse = "IDEMPOTENCY_KEY_IN_USE"
)

// Error is an error of a known kind. Message is safe to show to the caller
// (except for KindInternal); Reason is an optional machine-readable code;
// Err is the underlying cause, for logs.
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	Err     error
}

// Errorf returns an *Error of kind with a message formatted from format and
// args. Use %w to keep a cause.
func Errorf(kind Kind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), Err: errors.Unwrap(err)}
}

// WithReason returns a copy of e carrying reason.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%s): %s", e.Kind, e.Reason, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, and
// KindInternal when there is none.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindInternal
}

// ReasonOf returns the reason of the first *Error in err's chain, or "".
func ReasonOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Reason
	}
	return ""
}

// MessageOf returns the message that may be shown to a caller: the message of
// the first *Error in err's chain, or "internal error" for internal errors,
// whose details stay in the logs.
func MessageOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok && e.Kind != KindInternal {
		return e.Message
	}
	return "internal error"
}
