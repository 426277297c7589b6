package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	"shop/proto/limits"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

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
		return nil, fault.StatusError(ctx, s.logger, "CreateOrder", err)
	}
	return &ordersv1.CreateOrderResponse{Order: orderToProto(res.Order), Replayed: res.Replayed}, nil
}

// GetOrder returns one order of the user. A malformed user or order id is
// InvalidArgument; an unknown id and another user's order are both
// NotFound.
func (s *Server) GetOrder(ctx context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.GetOrderResponse, error) {
	if err := limits.UserID(req.GetUserId()); err != nil {
		return nil, fault.StatusError(ctx, s.logger, "GetOrder", err)
	}
	id, err := orders.ParseOrderID(req.GetOrderId())
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "GetOrder", err)
	}
	o, err := s.store.GetOrder(ctx, req.GetUserId(), id)
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "GetOrder", err)
	}
	return &ordersv1.GetOrderResponse{Order: orderToProto(o)}, nil
}

// ListOrders returns one page of the user's orders, newest first. A bad
// user id, limit or page token is InvalidArgument.
func (s *Server) ListOrders(ctx context.Context, req *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	page, err := s.store.ListOrders(ctx, orders.ListOrdersParams{
		UserID:    req.GetUserId(),
		Limit:     req.GetLimit(),
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, fault.StatusError(ctx, s.logger, "ListOrders", err)
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
