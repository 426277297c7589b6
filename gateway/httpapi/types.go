package httpapi

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// Account is a user's account as the REST API shows it.
type Account struct {
	UserID string `json:"user_id" example:"alice"`
	// Balance in minor units (kopecks), 0 to 1000000000000000.
	Balance   int64     `json:"balance" format:"int64" example:"150000"`
	Currency  string    `json:"currency" example:"RUB"`
	CreatedAt time.Time `json:"created_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z"`
	UpdatedAt time.Time `json:"updated_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z"`
}

// Order is an order as the REST API shows it.
type Order struct {
	ID     string `json:"id" format:"uuid" example:"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f"`
	UserID string `json:"user_id" example:"alice"`
	// Amount in minor units (kopecks), 1 to 1000000000000.
	Amount      int64  `json:"amount" format:"int64" example:"15000"`
	Currency    string `json:"currency" example:"RUB"`
	Description string `json:"description" example:"two coffees"`
	Status      string `json:"status" enums:"PENDING,PAID,CANCELLED" example:"PENDING"`
	// CancelReason is present only when Status is CANCELLED.
	CancelReason string    `json:"cancel_reason,omitempty" enums:"INSUFFICIENT_FUNDS,ACCOUNT_NOT_FOUND"`
	CreatedAt    time.Time `json:"created_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z"`
	UpdatedAt    time.Time `json:"updated_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z"`
}

// OrderList is one page of the caller's orders, newest first.
type OrderList struct {
	Orders []Order `json:"orders"`
	// NextPageToken fetches the next page; absent on the last page.
	NextPageToken string `json:"next_page_token,omitempty" example:"eyJjIjoiMjAyNS0wMS0wMlQxNTowNDowNVoifQ"`
}

// TopUpRequest is the body of POST /account/top-up.
type TopUpRequest struct {
	// Amount to credit in minor units (kopecks), 1 to 1000000000000.
	Amount *int64 `json:"amount" format:"int64" example:"100000" validate:"required"`
}

// CreateOrderRequest is the body of POST /orders.
type CreateOrderRequest struct {
	// Amount in minor units (kopecks), 1 to 1000000000000.
	Amount *int64 `json:"amount" format:"int64" example:"15000" validate:"required"`
	// Description, 0 to 1000 characters; absent means empty.
	Description string `json:"description" example:"two coffees"`
}

// HealthStatus is the body of /healthz and of a successful /readyz.
type HealthStatus struct {
	Status string `json:"status" example:"ok"`
}

// accountFromProto converts the payments service's account. It fails when
// a field the API promises is missing, which is a backend defect.
func accountFromProto(a *paymentsv1.Account) (Account, error) {
	if a == nil {
		return Account{}, fmt.Errorf("backend returned no account")
	}
	created, err := timeFromProto(a.GetCreatedAt())
	if err != nil {
		return Account{}, fmt.Errorf("account created_at: %w", err)
	}
	updated, err := timeFromProto(a.GetUpdatedAt())
	if err != nil {
		return Account{}, fmt.Errorf("account updated_at: %w", err)
	}
	return Account{
		UserID:    a.GetUserId(),
		Balance:   a.GetBalance(),
		Currency:  a.GetCurrency(),
		CreatedAt: created,
		UpdatedAt: updated,
	}, nil
}

// orderFromProto converts the orders service's order. It fails on a
// missing order, timestamp or status, which are backend defects.
func orderFromProto(o *ordersv1.Order) (Order, error) {
	if o == nil {
		return Order{}, fmt.Errorf("backend returned no order")
	}
	created, err := timeFromProto(o.GetCreatedAt())
	if err != nil {
		return Order{}, fmt.Errorf("order %s created_at: %w", o.GetId(), err)
	}
	updated, err := timeFromProto(o.GetUpdatedAt())
	if err != nil {
		return Order{}, fmt.Errorf("order %s updated_at: %w", o.GetId(), err)
	}
	out := Order{
		ID:          o.GetId(),
		UserID:      o.GetUserId(),
		Amount:      o.GetAmount(),
		Currency:    o.GetCurrency(),
		Description: o.GetDescription(),
		CreatedAt:   created,
		UpdatedAt:   updated,
	}
	switch o.GetStatus() {
	case ordersv1.OrderStatus_ORDER_STATUS_PENDING:
		out.Status = "PENDING"
	case ordersv1.OrderStatus_ORDER_STATUS_PAID:
		out.Status = "PAID"
	case ordersv1.OrderStatus_ORDER_STATUS_CANCELLED:
		out.Status = "CANCELLED"
		switch o.GetCancelReason() {
		case ordersv1.CancelReason_CANCEL_REASON_INSUFFICIENT_FUNDS:
			out.CancelReason = "INSUFFICIENT_FUNDS"
		case ordersv1.CancelReason_CANCEL_REASON_ACCOUNT_NOT_FOUND:
			out.CancelReason = "ACCOUNT_NOT_FOUND"
		default:
			return Order{}, fmt.Errorf("order %s: cancelled with unknown reason %v", o.GetId(), o.GetCancelReason())
		}
	default:
		return Order{}, fmt.Errorf("order %s: unknown status %v", o.GetId(), o.GetStatus())
	}
	return out, nil
}

func ordersFromProto(in []*ordersv1.Order) ([]Order, error) {
	out := make([]Order, 0, len(in))
	for _, o := range in {
		order, err := orderFromProto(o)
		if err != nil {
			return nil, err
		}
		out = append(out, order)
	}
	return out, nil
}

// timeFromProto returns ts as a UTC time.
func timeFromProto(ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, fmt.Errorf("missing timestamp")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, err
	}
	return ts.AsTime().UTC(), nil
}
