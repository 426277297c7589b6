package fault

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every reason.
const ErrorDomain = "shop"

// codes is the one table from error kinds to gRPC codes.
var kindCodes = [...]codes.Code{
	Internal:           codes.Internal,
	Invalid:            codes.InvalidArgument,
	NotFound:           codes.NotFound,
	AlreadyExists:      codes.AlreadyExists,
	FailedPrecondition: codes.FailedPrecondition,
	Aborted:            codes.Aborted,
	Unavailable:        codes.Unavailable,
}

// Status returns the gRPC status of err: the code of its kind, its
// client-safe message and a google.rpc.ErrorInfo detail with its reason.
// Internal errors read "internal error" and Unavailable ones "service
// unavailable", whatever their cause. A context error that ends ctx (the
// caller gave up) is Canceled or DeadlineExceeded, not internal.
func Status(ctx context.Context, err error) *status.Status {
	kind := KindOf(err)
	code, reason, msg := kindCodes[Internal], ReasonOf(err), MessageOf(err)
	if kind >= 0 && int(kind) < len(kindCodes) {
		code = kindCodes[kind]
	}
	switch {
	case kind == Unavailable:
		msg = "service unavailable"
	case kind == Internal && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		code, reason, msg = codes.Canceled, "CANCELLED", "request cancelled"
	case kind == Internal && errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
		code, reason, msg = codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "deadline exceeded"
	}
	st := status.New(code, msg)
	if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}); derr == nil {
		st = withInfo
	}
	return st
}

// StatusError is Status(ctx, err).Err(), with the one log line an error
// gets: internal and unavailable errors are logged here, with method and
// the full cause, and nowhere else.
func StatusError(ctx context.Context, logger *slog.Logger, method string, err error) error {
	st := Status(ctx, err)
	switch st.Code() {
	case codes.Internal:
		logger.ErrorContext(ctx, "request failed", slog.String("method", method), slog.Any("error", err))
	case codes.Unavailable:
		logger.WarnContext(ctx, "backend unavailable", slog.String("method", method), slog.Any("error", err))
	}
	return st.Err()
}
