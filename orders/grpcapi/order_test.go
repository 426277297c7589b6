package grpcapi

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
	"shop/service/fault"
)

func TestOrderToProto(t *testing.T) {
	created := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	id := uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")
	tests := []struct {
		name string
		in   orders.Order
		want *ordersv1.Order
	}{
		{
			"Pending",
			orders.Order{ID: id, UserID: "u1", Amount: 5, Currency: "RUB", Description: "d", Status: orders.StatusPending, CreatedAt: created, UpdatedAt: created},
			&ordersv1.Order{Id: id.String(), UserId: "u1", Amount: 5, Currency: "RUB", Description: "d", Status: ordersv1.OrderStatus_ORDER_STATUS_PENDING, CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created)},
		},
		{
			"Paid",
			orders.Order{ID: id, UserID: "u1", Amount: 5, Currency: "RUB", Status: orders.StatusPaid, CreatedAt: created, UpdatedAt: created.Add(time.Second)},
			&ordersv1.Order{Id: id.String(), UserId: "u1", Amount: 5, Currency: "RUB", Status: ordersv1.OrderStatus_ORDER_STATUS_PAID, CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created.Add(time.Second))},
		},
		{
			"CancelledInsufficientFunds",
			orders.Order{ID: id, UserID: "u1", Amount: 5, Currency: "RUB", Status: orders.StatusCancelled, CancelReason: orders.CancelReasonInsufficientFunds, CreatedAt: created, UpdatedAt: created},
			&ordersv1.Order{Id: id.String(), UserId: "u1", Amount: 5, Currency: "RUB", Status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED, CancelReason: ordersv1.CancelReason_CANCEL_REASON_INSUFFICIENT_FUNDS, CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created)},
		},
		{
			"CancelledAccountNotFound",
			orders.Order{ID: id, UserID: "u1", Amount: 5, Currency: "RUB", Status: orders.StatusCancelled, CancelReason: orders.CancelReasonAccountNotFound, CreatedAt: created, UpdatedAt: created},
			&ordersv1.Order{Id: id.String(), UserId: "u1", Amount: 5, Currency: "RUB", Status: ordersv1.OrderStatus_ORDER_STATUS_CANCELLED, CancelReason: ordersv1.CancelReason_CANCEL_REASON_ACCOUNT_NOT_FOUND, CreatedAt: timestamppb.New(created), UpdatedAt: timestamppb.New(created)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, orderToProto(tt.in), protocmp.Transform()); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandlers(t *testing.T) {
	id := uuid.MustParse("0190f0a4-8f1e-7c3a-9b2d-1e2f3a4b5c6d")
	o := orders.Order{ID: id, UserID: "u1", Amount: 7, Currency: "RUB", Status: orders.StatusPending}

	t.Run("CreateOrderPassesFieldsAndReplayed", func(t *testing.T) {
		st := &stubStore{create: orders.CreateOrderResult{Order: o, Replayed: true}}
		resp, err := newServer(t, st).CreateOrder(context.Background(), &ordersv1.CreateOrderRequest{UserId: "u1", Amount: 7, Description: "d", IdempotencyKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		want := orders.CreateOrderParams{UserID: "u1", Amount: 7, Description: "d", IdempotencyKey: "k"}
		if diff := cmp.Diff(want, st.gotParam); diff != "" {
			t.Errorf("params (-want +got):\n%s", diff)
		}
		if !resp.GetReplayed() || resp.GetOrder().GetId() != id.String() {
			t.Errorf("got replayed=%v id=%q, want true %q", resp.GetReplayed(), resp.GetOrder().GetId(), id)
		}
	})
	t.Run("GetOrderMalformedIDIsInvalidArgument", func(t *testing.T) {
		st := &stubStore{order: o}
		_, err := newServer(t, st).GetOrder(context.Background(), &ordersv1.GetOrderRequest{UserId: "u1", OrderId: "nope"})
		if got := status.Code(err); got != codes.InvalidArgument {
			t.Errorf("got %v, want %v", got, codes.InvalidArgument)
		}
		if st.gotGet != uuid.Nil {
			t.Errorf("store called with %v, want no call", st.gotGet)
		}
	})
	t.Run("GetOrderBadUserIsInvalidArgument", func(t *testing.T) {
		_, err := newServer(t, &stubStore{}).GetOrder(context.Background(), &ordersv1.GetOrderRequest{UserId: "", OrderId: id.String()})
		if got := status.Code(err); got != codes.InvalidArgument {
			t.Errorf("got %v, want %v", got, codes.InvalidArgument)
		}
	})
	t.Run("GetOrderNotFound", func(t *testing.T) {
		st := &stubStore{err: fault.Errorf(fault.NotFound, "order not found")}
		_, err := newServer(t, st).GetOrder(context.Background(), &ordersv1.GetOrderRequest{UserId: "u1", OrderId: id.String()})
		if got := status.Code(err); got != codes.NotFound {
			t.Errorf("got %v, want %v", got, codes.NotFound)
		}
		if st.gotGet != id {
			t.Errorf("store got id %v, want %v", st.gotGet, id)
		}
	})
	t.Run("ListOrdersEmptyPage", func(t *testing.T) {
		st := &stubStore{}
		resp, err := newServer(t, st).ListOrders(context.Background(), &ordersv1.ListOrdersRequest{UserId: "u1", Limit: 3, PageToken: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetOrders()) != 0 || resp.GetNextPageToken() != "" {
			t.Errorf("got %d orders, token %q; want none", len(resp.GetOrders()), resp.GetNextPageToken())
		}
		if diff := cmp.Diff(orders.ListOrdersParams{UserID: "u1", Limit: 3, PageToken: "tok"}, st.gotList); diff != "" {
			t.Errorf("params (-want +got):\n%s", diff)
		}
	})
}
