package payments

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the transport layers: each kind maps to one
// gRPC code (grpcapi) and from there to one HTTP status (gateway).
type Kind int

// The error kinds of the payments service.
const (
	// KindInternal is a bug or an unexpected failure; its details are logged,
	// never shown to a client. It is the kind of any error not made by this
	// package.
	KindInternal Kind = iota
	// KindInvalid is a malformed request.
	KindInvalid
	// KindNotFound is a missing account.
	KindNotFound
	// KindConflict is a resource that already exists.
	KindConflict
	// KindFailedPrecondition is a valid request the current state rejects.
	KindFailedPrecondition
	// KindAborted is a request that conflicts with one in flight.
	KindAborted
	// KindUnavailable is a dependency (the database) that cannot be reached;
	// the request may be retried.
	KindUnavailable
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindFailedPrecondition:
		return "failed precondition"
	case KindAborted:
		return "aborted"
	case KindUnavailable:
		return "unavailable"
	default:
		return "internal"
	}
}

// Machine-readable reasons, carried to clients as google.rpc.ErrorInfo.Reason.
const (
	ReasonInvalidArgument      = "INVALID_ARGUMENT"
	ReasonNotFound             = "NOT_FOUND"
	ReasonAccountExists        = "ACCOUNT_EXISTS"
	ReasonBalanceLimitExceeded = "BALANCE_LIMIT_EXCEEDED"
	ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	ReasonIdempotencyKeyInUse  = "IDEMPOTENCY_KEY_IN_USE"
	ReasonUnavailable          = "UNAVAILABLE"
	ReasonInternal             = "INTERNAL"
)

// Error is an error with a kind and a reason. Message is safe to show to a
// client; Err, if set, is the underlying cause for logs.
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of kind with reason and a client-safe message.
func Errorf(kind Kind, reason, format string, args ...any) *Error {
	return &Error{Kind: kind, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns a KindInvalid error with reason INVALID_ARGUMENT.
func Invalidf(format string, args ...any) *Error {
	return Errorf(KindInvalid, ReasonInvalidArgument, format, args...)
}

// ErrorKind returns the kind of the first *Error in err's chain, or
// KindInternal when there is none.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrorReason returns the reason of the first *Error in err's chain, or
// ReasonInternal when there is none.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Reason != "" {
		return e.Reason
	}
	return ReasonInternal
}

// ErrorMessage returns the client-safe message of the first *Error in err's
// chain, or "internal error" when there is none or it is internal.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != KindInternal {
		return e.Message
	}
	return "internal error"
}
