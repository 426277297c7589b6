// Package grpcapi serves payments.v1.PaymentService over the payments
// store. Each handler decodes the request, calls one store method and maps
// the result or error; errors are mapped to gRPC status in one place,
// statusError.
package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/payments"
	"shop/payments/postgres"
	paymentsv1 "shop/proto/payments/v1"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error.
const ErrorDomain = "shop"

// Accounts is what the server needs from the store.
type Accounts interface {
	CreateAccount(ctx context.Context, userID string) (payments.Account, error)
	GetAccount(ctx context.Context, userID string) (payments.Account, error)
	TopUp(ctx context.Context, userID string, amount int64, idempotencyKey string) (postgres.TopUpResult, error)
}

// Server implements paymentsv1.PaymentServiceServer. It is safe for
// concurrent use.
type Server struct {
	paymentsv1.UnimplementedPaymentServiceServer
	accounts Accounts
	log      *slog.Logger
}

var _ paymentsv1.PaymentServiceServer = (*Server)(nil)

// New returns a Server; it fails when a dependency is nil.
func New(accounts Accounts, logger *slog.Logger) (*Server, error) {
	if accounts == nil || logger == nil {
		return nil, errors.New("payments grpc server: missing accounts or logger")
	}
	return &Server{accounts: accounts, log: logger}, nil
}

// CreateAccount opens the caller's account.
func (s *Server) CreateAccount(ctx context.Context, req *paymentsv1.CreateAccountRequest) (*paymentsv1.CreateAccountResponse, error) {
	a, err := s.accounts.CreateAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, s.statusError(ctx, "CreateAccount", err)
	}
	return &paymentsv1.CreateAccountResponse{Account: accountToProto(a)}, nil
}

// GetAccount returns the caller's account.
func (s *Server) GetAccount(ctx context.Context, req *paymentsv1.GetAccountRequest) (*paymentsv1.GetAccountResponse, error) {
	a, err := s.accounts.GetAccount(ctx, req.GetUserId())
	if err != nil {
		return nil, s.statusError(ctx, "GetAccount", err)
	}
	return &paymentsv1.GetAccountResponse{Account: accountToProto(a)}, nil
}

// TopUp credits the caller's account.
func (s *Server) TopUp(ctx context.Context, req *paymentsv1.TopUpRequest) (*paymentsv1.TopUpResponse, error) {
	r, err := s.accounts.TopUp(ctx, req.GetUserId(), req.GetAmount(), req.GetIdempotencyKey())
	if err != nil {
		return nil, s.statusError(ctx, "TopUp", err)
	}
	return &paymentsv1.TopUpResponse{Account: accountToProto(r.Account), Replayed: r.Replayed}, nil
}

func accountToProto(a payments.Account) *paymentsv1.Account {
	return &paymentsv1.Account{
		UserId:    a.UserID,
		Balance:   a.Balance,
		Currency:  a.Currency,
		CreatedAt: timestamppb.New(a.CreatedAt),
		UpdatedAt: timestamppb.New(a.UpdatedAt),
	}
}

// statusError maps err to a gRPC status: the one place where error kinds
// become codes. Internal and unavailable errors are logged here, once, and
// reach the client with a generic message.
func (s *Server) statusError(ctx context.Context, method string, err error) error {
	st := toStatus(ctx, err)
	switch st.Code() {
	case codes.Internal, codes.Unavailable, codes.Unknown:
		s.log.ErrorContext(ctx, "request failed", slog.String("method", method),
			slog.String("code", st.Code().String()), slog.Any("error", err))
	}
	return st.Err()
}

// toStatus builds the status of err with a google.rpc.ErrorInfo detail
// carrying its reason.
func toStatus(ctx context.Context, err error) *status.Status {
	var (
		code   codes.Code
		reason = payments.ErrorReason(err)
		msg    = payments.ErrorMessage(err)
	)
	switch payments.ErrorKind(err) {
	case payments.KindInvalid:
		code = codes.InvalidArgument
	case payments.KindNotFound:
		code = codes.NotFound
	case payments.KindConflict:
		code = codes.AlreadyExists
	case payments.KindFailedPrecondition:
		code = codes.FailedPrecondition
	case payments.KindAborted:
		code = codes.Aborted
	case payments.KindUnavailable:
		code, msg = codes.Unavailable, "service unavailable"
	default:
		code, reason, msg = codes.Internal, payments.ReasonInternal, "internal error"
		// A request the client gave up on is not an internal failure.
		switch {
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			code, reason, msg = codes.Canceled, "CANCELLED", "request cancelled"
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
			code, reason, msg = codes.DeadlineExceeded, "DEADLINE_EXCEEDED", "deadline exceeded"
		}
	}
	st := status.New(code, msg)
	if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}); derr == nil {
		st = withInfo
	}
	return st
}
