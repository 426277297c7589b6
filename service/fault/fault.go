// Package fault is the one error vocabulary of the services: every error a
// service returns to a caller has a Kind, a machine-readable reason and a
// message safe to show. The domain and store packages of orders and payments
// make these errors; Status turns them into gRPC statuses in one table.
package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for the caller. Each kind maps to exactly one
// gRPC code (see Status) and, through the gateway, one HTTP status.
type Kind int

// The error kinds, named after what the caller can do about them.
const (
	// Internal is a bug or an unexpected failure; its details are logged,
	// never shown to a caller. It is the kind of any error not made here.
	Internal Kind = iota
	// Invalid is a malformed request (gRPC InvalidArgument).
	Invalid
	// NotFound is an unknown resource, or one of another user (NotFound).
	NotFound
	// AlreadyExists is a resource the caller tried to create that exists
	// (AlreadyExists).
	AlreadyExists
	// FailedPrecondition is a well-formed request the current state refuses,
	// such as a balance limit or an idempotency key reused with another
	// request (FailedPrecondition).
	FailedPrecondition
	// Aborted is a request that conflicts with a concurrent one still in
	// flight, such as a repeat of an idempotency key; retrying later may
	// succeed (Aborted).
	Aborted
	// Unavailable is a dependency (the database) that cannot be reached;
	// retrying later may succeed (Unavailable).
	Unavailable
)

var kindNames = [...]string{
	Internal:           "internal",
	Invalid:            "invalid",
	NotFound:           "not found",
	AlreadyExists:      "already exists",
	FailedPrecondition: "failed precondition",
	Aborted:            "aborted",
	Unavailable:        "unavailable",
}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Machine-readable reasons, carried to callers as google.rpc.ErrorInfo.Reason.
// An error without an explicit reason carries its kind's default reason.
const (
	ReasonInvalidArgument      = "INVALID_ARGUMENT"
	ReasonNotFound             = "NOT_FOUND"
	ReasonAlreadyExists        = "ALREADY_EXISTS"
	ReasonFailedPrecondition   = "FAILED_PRECONDITION"
	ReasonAborted              = "ABORTED"
	ReasonUnavailable          = "UNAVAILABLE"
	ReasonInternal             = "INTERNAL"
	ReasonAccountExists        = "ACCOUNT_EXISTS"
	ReasonBalanceLimitExceeded = "BALANCE_LIMIT_EXCEEDED"
	ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	ReasonIdempotencyKeyInUse  = "IDEMPOTENCY_KEY_IN_USE"
)

var defaultReasons = [...]string{
	Internal:           ReasonInternal,
	Invalid:            ReasonInvalidArgument,
	NotFound:           ReasonNotFound,
	AlreadyExists:      ReasonAlreadyExists,
	FailedPrecondition: ReasonFailedPrecondition,
	Aborted:            ReasonAborted,
	Unavailable:        ReasonUnavailable,
}

// Error is an error of a known kind. Message is safe to show to the caller
// (except for Internal); Reason is the machine-readable code (empty means
// the kind's default); Err is the underlying cause, for logs.
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	Err     error
}

// Errorf returns an *Error of kind whose message is formatted from format
// and args. A %w verb keeps its operand as the cause.
func Errorf(kind Kind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap returns an *Error of kind with message shown to the caller and err
// kept as the cause for logs.
func Wrap(kind Kind, err error, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// WithReason returns a copy of e carrying reason.
func (e *Error) WithReason(reason string) *Error {
	c := *e
	c.Reason = reason
	return &c
}

func (e *Error) Error() string {
	s := e.Kind.String()
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	s += ": " + e.Message
	if e.Err != nil && !strings.HasSuffix(e.Message, e.Err.Error()) {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain, and Internal
// when there is none.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return Internal
}

// ReasonOf returns the reason of the first *Error in err's chain: its own,
// or its kind's default; ReasonInternal when there is none.
func ReasonOf(err error) string {
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Kind == Internal {
		return ReasonInternal
	}
	if e.Reason != "" {
		return e.Reason
	}
	if e.Kind >= 0 && int(e.Kind) < len(defaultReasons) {
		return defaultReasons[e.Kind]
	}
	return ReasonInternal
}

// MessageOf returns the message that may be shown to a caller: the message
// of the first *Error in err's chain, or "internal error" for internal
// errors, whose details stay in the logs.
func MessageOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok && e.Kind != Internal {
		return e.Message
	}
	return "internal error"
}
