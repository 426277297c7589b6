// Package grpcapi serves payments.v1.PaymentService over the payments
// store. Each handler decodes the request, calls one store method and maps
// the result; errors become gRPC statuses through fault.StatusError, the one
// mapping of error kinds to codes.
package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"shop/payments"
	paymentsv1 "shop/proto/payments/v1"
)

// Store is what the server needs from the store.
type Store interface {
	CreateAccount(ctx context.Context, userID string) (payments.Account, error)
	GetAccount(ctx context.Context, userID string) (payments.Account, error)
	TopUp(ctx context.Context, userID string, amount int64, idempotencyKey string) (payments.TopUpResult, error)
}

// Server implements paymentsv1.PaymentServiceServer. It is safe for
// concurrent use.
type Server struct {
	paymentsv1.UnimplementedPaymentServiceServer
	store  Store
	logger *slog.Logger
}

var _ paymentsv1.PaymentServiceServer = (*Server)(nil)

// New returns a Server; it fails when a dependency is nil.
func New(store Store, logger *slog.Logger) (*Server, error) {
	if store == nil || logger == nil {
		return nil, errors.New("payments grpc server: missing store or logger")
	}
	return &Server{store: store, logger: logger}, nil
}
