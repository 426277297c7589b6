// Package grpcapi serves orders.v1.OrderService over the orders store. Each
// handler converts the request, calls one store method and converts the
// result; errors become gRPC statuses in one function, statusError.
package grpcapi

import (
	"context"
	"errors"
	"log/slog"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
)

// ErrorDomain is the ErrorInfo domain of every error reason.
const ErrorDomain = "shop"

// Store is what the server needs of the orders store (postgres.Store). The
// store validates its parameters and returns *orders.Error kinds.
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

// CreateOrder creates a PENDING order; see postgres.Store.CreateOrder for
// idempotency. Errors: InvalidArgument, FailedPrecondition with reason
// IDEMPOTENCY_KEY_REUSED, Aborted with reason IDEMPOTENCY_KEY_IN_USE,
// Unavailable, Internal.
func (s *Server) CreateOrder(ctx context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	res, err := s.store.CreateOrder(ctx, orders.CreateOrderParams{
		UserID:         req.GetUserId(),
		Amount:         req.GetAmount(),
		Description:    req.GetDescription(),
		IdempotencyKey: req.GetIdempotencyKey(),
	})
	if err != nil {
		return nil, s.statusError(ctx, "CreateOrder", err)
	}
	return &ordersv1.CreateOrderResponse{Order: orderToProto(res.Order), Replayed: res.Replayed}, nil
}

// GetOrder returns one order of the user. A malformed id is InvalidArgument;
// an unknown id and another user's order are both NotFound.
func (s *Server) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	if err := orders.ValidateUserID(req.GetUserId()); err != nil {
		return nil, s.statusError(ctx, "GetOrder", err)
	}
	id, err := orders.ParseOrderID(req.GetOrderId())
	if err != nil {
		return nil, s.statusError(ctx, "GetOrder", err)
	}
	o, err := s.store.GetOrder(ctx, req.GetUserId(), id)
	if err != nil {
		return nil, s.statusError(ctx, "GetOrder", err)
	}
	return &ordersv1.GetOrderResponse{Order: orderToProto(o)}, nil
}

// ListOrders returns one page of the user's orders, newest first. A bad
// limit or page token is InvalidArgument.
func (s *Server) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	page, err := s.store.ListOrders(ctx, orders.ListOrdersParams{
		UserID:    req.GetUserId(),
		Limit:     req.GetLimit(),
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, s.statusError(ctx, "ListOrders", err)
	}
	resp := &ordersv1.ListOrdersResponse{
		Orders:        make([]*ordersv1.Order, 0, len(page.Orders)),
		NextPageToken: page.NextPageToken,
	}
	for _, o := range page.Orders {
		resp.Orders = append(resp.Orders, orderToProto(o))
	}
	return resp, nil
}

// statusError is the one mapping from error kinds to gRPC statuses. A
// reason travels as an errdetails.ErrorInfo with domain "shop". Internal
// errors are logged here, once, and reach the client as a generic message.
func (s *Server) statusError(ctx context.Context, method string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	var code codes.Code
	switch orders.KindOf(err) {
	case orders.KindInvalid:
		code = codes.InvalidArgument
	case orders.KindNotFound:
		code = codes.NotFound
	case orders.KindConflict:
		code = codes.Aborted
	case orders.KindFailedPrecondition:
		code = codes.FailedPrecondition
	case orders.KindUnavailable:
		code = codes.Unavailable
		s.logger.WarnContext(ctx, "backend unavailable", slog.String("method", method), slog.Any("error", err))
	default:
		s.logger.ErrorContext(ctx, "internal error", slog.String("method", method), slog.Any("error", err))
		return status.Error(codes.Internal, orders.MessageOf(err))
	}
	st := status.New(code, orders.MessageOf(err))
	if reason := orders.ReasonOf(err); reason != "" {
		if withInfo, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain}); derr == nil {
			st = withInfo
		}
	}
	return st.Err()
}

func orderToProto(o orders.Order) *ordersv1.Order {
	return &ordersv1.Order{
		Id:           o.ID.String(),
		UserId:       o.UserID,
		Amount:       o.Amount,
		Currency:     o.Currency,
		Description:  o.Description,
		Status:       statusToProto(o.Status),
		CancelReason: reasonToProto(o.CancelReason),
		CreatedAt:    timestamppb.New(o.CreatedAt),
		UpdatedAt:    timestamppb.New(o.UpdatedAt),
	}
}

func statusToProto(s orders.Status) ordersv1.OrderStatus {
	switch s {
	case orders.StatusPending:
		return ordersv1.OrderStatus_ORDER_STATUS_PENDING
	case orders.StatusPaid:
		return ordersv1.OrderStatus_ORDER_STATUS_PAID
	case orders.StatusCancelled:
		return ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
	}
	return ordersv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}

func reasonToProto(r orders.CancelReason) ordersv1.CancelReason {
	switch r {
	case orders.CancelReasonInsufficientFunds:
		return ordersv1.CancelReason_CANCEL_REASON_INSUFFICIENT_FUNDS
	case orders.CancelReasonAccountNotFound:
		return ordersv1.CancelReason_CANCEL_REASON_ACCOUNT_NOT_FOUND
	}
	return ordersv1.CancelReason_CANCEL_REASON_UNSPECIFIED
}
