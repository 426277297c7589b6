package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	ordersv1 "shop/proto/orders/v1"
	"shop/service/limits"
)

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

// CreateOrderRequest is the body of POST /orders.
type CreateOrderRequest struct {
	// Amount in minor units (kopecks), 1 to 1000000000000.
	Amount *int64 `json:"amount" format:"int64" example:"15000" validate:"required"`
	// Description, 0 to 1000 characters; absent means empty.
	Description string `json:"description" example:"two coffees"`
}

// createOrder creates an order for the caller.
//
//	@Summary		Create an order
//	@Description	Creates a PENDING order; the payment is decided asynchronously and moves it to PAID or CANCELLED. An order can be created whether or not the caller has an account. With an Idempotency-Key, a repeat with the same body returns the first response (same status and body) and creates nothing.
//	@Tags			orders
//	@Accept			json
//	@Produce		json
//	@Security		UserID
//	@Param			Idempotency-Key	header		string					false	"1 to 255 printable ASCII characters, scoped to the caller"
//	@Param			X-Request-ID	header		string					false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Param			body			body		CreateOrderRequest		true	"The order"
//	@Success		201				{object}	Order					"The new order, status PENDING"
//	@Header			201				{string}	Location				"/api/v1/orders/{id}"
//	@Header			201				{string}	Idempotency-Replayed	"true when this is the stored response of an earlier request"
//	@Header			all				{string}	X-Request-ID			"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse			"INVALID_ARGUMENT: malformed JSON, unknown field, wrong type, amount missing or out of range, description too long, malformed Idempotency-Key"
//	@Failure		401				{object}	ErrorResponse			"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		409				{object}	ErrorResponse			"IDEMPOTENCY_KEY_IN_USE: a request with this key is still in flight"
//	@Failure		413				{object}	ErrorResponse			"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		422				{object}	ErrorResponse			"IDEMPOTENCY_KEY_REUSED: the key was used with a different body"
//	@Failure		500				{object}	ErrorResponse			"INTERNAL"
//	@Failure		503				{object}	ErrorResponse			"UNAVAILABLE: the orders service did not answer"
//	@Router			/api/v1/orders [post]
func (h *handlers) createOrder(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	key, err := idempotencyKey(c.Request)
	if err != nil {
		h.errs.fail(c, invalidArgument(err.Error()))
		return
	}
	var req CreateOrderRequest
	if e := decodeJSON(c.Request.Body, &req); e != nil {
		h.errs.fail(c, e)
		return
	}
	if req.Amount == nil {
		h.errs.fail(c, invalidArgument("amount is required"))
		return
	}

	ctx, cancel := h.backendContext(c)
	defer cancel()
	resp, err := h.orders.CreateOrder(ctx, &ordersv1.CreateOrderRequest{
		UserId:         user,
		Amount:         *req.Amount,
		Description:    req.Description,
		IdempotencyKey: key,
	})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	order, err := orderFromProto(resp.GetOrder())
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	if resp.GetReplayed() {
		c.Header(HeaderIdempotencyReplayed, "true")
	}
	c.Header("Location", "/api/v1/orders/"+order.ID)
	c.JSON(http.StatusCreated, order)
}

// listOrders returns the caller's orders, newest first.
//
//	@Summary		List the caller's orders
//	@Description	Newest first, one page at a time. Pass next_page_token as page_token for the next page; it is absent on the last page.
//	@Tags			orders
//	@Produce		json
//	@Security		UserID
//	@Param			limit			query		int				false	"Page size, 1 to 100"	minimum(1)	maximum(100)	default(20)
//	@Param			page_token		query		string			false	"next_page_token of the previous page"
//	@Param			X-Request-ID	header		string			false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Success		200				{object}	OrderList		"One page of orders"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: malformed limit or page_token"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer"
//	@Router			/api/v1/orders [get]
func (h *handlers) listOrders(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	limit, err := pageLimit(c.Request)
	if err != nil {
		h.errs.fail(c, invalidArgument(err.Error()))
		return
	}
	token, err := singleQuery(c.Request, "page_token")
	if err != nil {
		h.errs.fail(c, invalidArgument(err.Error()))
		return
	}

	ctx, cancel := h.backendContext(c)
	defer cancel()
	resp, err := h.orders.ListOrders(ctx, &ordersv1.ListOrdersRequest{UserId: user, Limit: limit, PageToken: token})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	orders, err := ordersFromProto(resp.GetOrders())
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, OrderList{Orders: orders, NextPageToken: resp.GetNextPageToken()})
}

// getOrder returns one of the caller's orders.
//
//	@Summary		Get an order
//	@Description	An unknown id and another user's order are both 404.
//	@Tags			orders
//	@Produce		json
//	@Security		UserID
//	@Param			id				path		string			true	"Order id (UUID)"	format(uuid)
//	@Param			X-Request-ID	header		string			false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Success		200				{object}	Order			"The order"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: the id is not a UUID"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		404				{object}	ErrorResponse	"NOT_FOUND: no such order for the caller"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer"
//	@Router			/api/v1/orders/{id} [get]
func (h *handlers) getOrder(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	id, err := parseOrderID(c.Param("id"))
	if err != nil {
		h.errs.fail(c, invalidArgument(err.Error()))
		return
	}

	ctx, cancel := h.backendContext(c)
	defer cancel()
	resp, err := h.orders.GetOrder(ctx, &ordersv1.GetOrderRequest{UserId: user, OrderId: id})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	order, err := orderFromProto(resp.GetOrder())
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, order)
}

// pageLimit parses the limit query parameter: absent or empty means
// limits.DefaultListLimit; otherwise a decimal integer from 1 to
// limits.MaxListLimit. The range is checked here because the proto uses 0
// to mean "default", which a client must not be able to send.
func pageLimit(r *http.Request) (int32, error) {
	s, err := singleQuery(r, "limit")
	if err != nil {
		return 0, err
	}
	if s == "" {
		return limits.DefaultListLimit, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > limits.MaxListLimit {
		return 0, fmt.Errorf("limit must be an integer between 1 and %d", limits.MaxListLimit)
	}
	return int32(n), nil
}

// parseOrderID accepts a UUID in its canonical 36-character form (either
// case) and returns it in lower case.
func parseOrderID(s string) (string, error) {
	if len(s) != 36 {
		return "", errors.New("order id must be a UUID like 0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f")
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", errors.New("order id must be a UUID like 0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f")
	}
	return u.String(), nil
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

// ordersFromProto converts a page of orders with orderFromProto.
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
