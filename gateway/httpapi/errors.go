package httpapi

import (
	"context"
	"errors"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"shop/service/fault"
)

// Error codes of the REST API (DESIGN.md section 3). Each one goes with
// exactly one HTTP status.
const (
	CodeInvalidArgument      = "INVALID_ARGUMENT"
	CodeUnauthenticated      = "UNAUTHENTICATED"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeAccountExists        = "ACCOUNT_EXISTS"
	CodeIdempotencyKeyInUse  = "IDEMPOTENCY_KEY_IN_USE"
	CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeBalanceLimitExceeded = "BALANCE_LIMIT_EXCEEDED"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeResourceExhausted    = "RESOURCE_EXHAUSTED"
	CodeUnavailable          = "UNAVAILABLE"
	CodeInternal             = "INTERNAL"
)

// Messages shown for errors whose cause must not reach the client.
const (
	msgInternal    = "internal error"
	msgUnavailable = "service temporarily unavailable, retry later"
)

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error ErrorBody `json:"error" validate:"required"`
} // @name Error

// ErrorBody is the machine-readable code and the human-readable message of
// an error.
type ErrorBody struct {
	// Code is the machine-readable kind of the error; each goes with one
	// HTTP status.
	Code string `json:"code" enums:"INVALID_ARGUMENT,UNAUTHENTICATED,NOT_FOUND,METHOD_NOT_ALLOWED,ACCOUNT_EXISTS,IDEMPOTENCY_KEY_IN_USE,IDEMPOTENCY_KEY_REUSED,BALANCE_LIMIT_EXCEEDED,PAYLOAD_TOO_LARGE,RESOURCE_EXHAUSTED,UNAVAILABLE,INTERNAL" example:"INVALID_ARGUMENT" validate:"required"`
	// Message explains the error to a person.
	Message string `json:"message" example:"amount must be between 1 and 1000000000000" validate:"required"`
} // @name ErrorBody

// apiError is an error the gateway answers with: an HTTP status, a code and
// a message safe to show. cause, when set, is logged and never shown.
type apiError struct {
	status  int
	code    string
	message string
	cause   error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.code + ": " + e.message + ": " + e.cause.Error()
	}
	return e.code + ": " + e.message
}

func (e *apiError) Unwrap() error { return e.cause }

func invalidArgument(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeInvalidArgument, message: msg}
}

func internalError(cause error) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: msgInternal, cause: cause}
}

// fromBackend maps an error returned by a gRPC call to the orders or
// payments service to the HTTP status, code and message the client sees.
// It is the one place where gRPC codes and ErrorInfo reasons become HTTP:
//
//	InvalidArgument                            -> 400 INVALID_ARGUMENT (service's message)
//	NotFound                                   -> 404 NOT_FOUND (service's message)
//	AlreadyExists + ACCOUNT_EXISTS             -> 409 ACCOUNT_EXISTS
//	Aborted + IDEMPOTENCY_KEY_IN_USE           -> 409 IDEMPOTENCY_KEY_IN_USE
//	FailedPrecondition + IDEMPOTENCY_KEY_REUSED -> 422 IDEMPOTENCY_KEY_REUSED
//	FailedPrecondition + BALANCE_LIMIT_EXCEEDED -> 422 BALANCE_LIMIT_EXCEEDED
//	Unavailable, DeadlineExceeded, Canceled,
//	and context deadline/cancellation          -> 503 UNAVAILABLE (generic message)
//	anything else                              -> 500 INTERNAL (generic message)
//
// For 503 and 500 the original error is kept as the cause, to be logged,
// never shown. fromBackend(nil) is nil.
func fromBackend(err error) *apiError {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: msgUnavailable, cause: err}
	}
	st, ok := status.FromError(err)
	if !ok {
		return internalError(err)
	}
	reason := errorReason(st)
	switch st.Code() {
	case codes.InvalidArgument:
		return &apiError{status: http.StatusBadRequest, code: CodeInvalidArgument, message: messageOr(st, "invalid argument")}
	case codes.NotFound:
		return &apiError{status: http.StatusNotFound, code: CodeNotFound, message: messageOr(st, "not found")}
	case codes.AlreadyExists:
		if reason == fault.ReasonAccountExists {
			return &apiError{status: http.StatusConflict, code: CodeAccountExists, message: messageOr(st, "account already exists")}
		}
	case codes.Aborted:
		if reason == fault.ReasonIdempotencyKeyInUse {
			return &apiError{status: http.StatusConflict, code: CodeIdempotencyKeyInUse, message: messageOr(st, "a request with this idempotency key is in progress")}
		}
	case codes.FailedPrecondition:
		switch reason {
		case fault.ReasonIdempotencyKeyReused:
			return &apiError{status: http.StatusUnprocessableEntity, code: CodeIdempotencyKeyReused, message: messageOr(st, "idempotency key was used with a different request")}
		case fault.ReasonBalanceLimitExceeded:
			return &apiError{status: http.StatusUnprocessableEntity, code: CodeBalanceLimitExceeded, message: messageOr(st, "balance limit exceeded")}
		}
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return &apiError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: msgUnavailable, cause: err}
	}
	return internalError(err)
}

// errorReason returns the reason of the first google.rpc.ErrorInfo detail
// of st, or "".
func errorReason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func messageOr(st *status.Status, fallback string) string {
	if m := st.Message(); m != "" {
		return m
	}
	return fallback
}
