// Package grpcapi serves orders.v1.OrderService over the orders store. Each
// handler converts the request, calls one store method and converts the
// result; errors become gRPC statuses through fault.StatusError, the one
// mapping of the services.
package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
)

// Store is what the server needs of the orders store (postgres.Store). The
// store validates its parameters and returns service/fault errors.
type Store interface {
	CreateOrder(ctx context.Context, p orders.CreateOrderParams) (orders.CreateOrderResult, error)
	GetOrder(ctx context.Context, userID string, id uuid.UUID) (orders.Order, error)
	ListOrders(ctx context.Context, p orders.ListOrdersParams) (orders.Page, error)
}

// Server implements ordersv1.OrderServiceServer. It is safe for concurrent
// use.
type Server struct {
	ordersv1.UnimplementedOrderServiceServer
	store  Store
	logger *slog.Logger
	// watcher and changes serve WatchOrders (watch.go), once EnableWatch
	// has set them.
	watcher Watcher
	changes ChangeLog
}

var _ ordersv1.OrderServiceServer = (*Server)(nil)

// New returns a server over store. It returns an error when a dependency is
// missing.
func New(store Store, logger *slog.Logger) (*Server, error) {
	if store == nil || logger == nil {
		return nil, errors.New("grpcapi: missing store or logger")
	}
	return &Server{store: store, logger: logger}, nil
}
