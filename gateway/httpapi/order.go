package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"shop/orders"
	ordersv1 "shop/proto/orders/v1"
)

// Order is an order as the REST API shows it.
type Order struct {
	ID     string `json:"id" format:"uuid" example:"0193e0b4-8c7a-7e2a-9a53-2f6b0c1d2e3f" validate:"required"`
	UserID string `json:"user_id" example:"alice" validate:"required"`
	// Amount in minor units (kopecks), 1 to 1000000000000.
	Amount   int64  `json:"amount" format:"int64" minimum:"1" maximum:"1000000000000" example:"15000" validate:"required"`
	Currency string `json:"currency" enums:"RUB" example:"RUB" validate:"required"`
	// Description, 0 to 1000 characters.
	Description string `json:"description" maxLength:"1000" example:"two coffees" validate:"required"`
	Status      string `json:"status" enums:"PENDING,PAID,CANCELLED" example:"PENDING" validate:"required"`
	// CancelReason is present only when Status is CANCELLED.
	CancelReason string    `json:"cancel_reason,omitempty" enums:"INSUFFICIENT_FUNDS,ACCOUNT_NOT_FOUND"`
	CreatedAt    time.Time `json:"created_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z" validate:"required"`
	UpdatedAt    time.Time `json:"updated_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z" validate:"required"`
} // @name Order

// OrderList is one page of the caller's orders, newest first.
type OrderList struct {
	Orders []Order `json:"orders" validate:"required"`
	// NextPageToken fetches the next page; absent on the last page.
	NextPageToken string `json:"next_page_token,omitempty" minLength:"1" maxLength:"128" extensions:"x-pattern=^[A-Za-z0-9_-]*$" example:"AgAGLBmfTbAAAZPgtIx6fiqaUy9rDB0uPwi0S0VqPfBqUcbP9Xg7cQ"`
} // @name OrderList

// CreateOrderRequest is the body of POST /orders. Its limits are
// limits.MinAmount, limits.MaxAmount and orders.CheckDescription
// (openapi_test.go holds the document to them).
type CreateOrderRequest struct {
	// Amount in minor units (kopecks), 1 to 1000000000000.
	Amount *int64 `json:"amount" format:"int64" minimum:"1" maximum:"1000000000000" example:"15000" validate:"required"`
	// Description, 0 to 1000 characters (Unicode code points) without NUL;
	// absent means empty.
	Description string `json:"description" maxLength:"1000" extensions:"x-pattern=^[^\\x00]*$" example:"two coffees"`
} // @name CreateOrderRequest

// createOrder creates an order for the caller.
//
//	@Summary		Create an order
//	@ID				createOrder
//	@Description	Creates a PENDING order; the payment is decided asynchronously and moves it to PAID or CANCELLED. An order can be created whether or not the caller has an account. With an Idempotency-Key, a repeat with the same body returns the first response (same status and body) and creates nothing.
//	@Tags			orders
//	@Accept			json
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			Idempotency-Key	header		string					false	"Makes the request repeatable: 1 to 255 printable ASCII characters with at least one that is not a space (HTTP drops surrounding spaces), scoped to the caller"	minlength(1)	maxlength(255)	extensions(x-pattern=^[ -~]*[!-~][ -~]*$)
//	@Param			X-Request-ID	header		string					false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Param			body			body		CreateOrderRequest		true	"The order"
//	@Success		201				{object}	Order					"The new order, status PENDING"
//	@Header			201				{string}	Location				"/api/v1/orders/{id}"
//	@Header			201				{string}	Idempotency-Replayed	"true when this is the stored response of an earlier request with the same Idempotency-Key"
//	@Header			all				{string}	X-Request-ID			"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse			"INVALID_ARGUMENT: malformed JSON, unknown or repeated field, wrong type, amount missing or out of range, description too long or with NUL, malformed Idempotency-Key"
//	@Failure		401				{object}	ErrorResponse			"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		409				{object}	ErrorResponse			"IDEMPOTENCY_KEY_IN_USE: a request with this key is still in flight"
//	@Failure		413				{object}	ErrorResponse			"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		422				{object}	ErrorResponse			"IDEMPOTENCY_KEY_REUSED: the key was used with a different body"
//	@Failure		429				{object}	ErrorResponse			"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After				"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse			"INTERNAL"
//	@Failure		503				{object}	ErrorResponse			"UNAVAILABLE: the orders service did not answer in time"
//	@x-response-links	{"201": {"GetOrder": {"operationId": "getOrder", "parameters": {"id": "$response.body#/id"}}, "ListOrders": {"operationId": "listOrders"}}}
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
//	@ID				listOrders
//	@Description	Newest first, one page at a time. Pass next_page_token as page_token for the next page; it is absent on the last page. A page token is opaque and bound to the caller: one the API did not return to this caller is 400.
//	@Tags			orders
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			limit			query		int				false	"Page size, 1 to 100"	minimum(1)	maximum(100)	default(20)
//	@Param			page_token		query		string			false	"next_page_token of the previous page; absent or empty for the first page"	maxlength(128)	extensions(x-pattern=^[A-Za-z0-9_-]*$)
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		200				{object}	OrderList		"One page of orders"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: malformed limit or page_token, a parameter given twice, or a page_token this API did not return to the caller"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer in time"
//	@x-response-links	{"200": {"NextPage": {"operationId": "listOrders", "parameters": {"page_token": "$response.body#/next_page_token"}}, "GetFirstOrder": {"operationId": "getOrder", "parameters": {"id": "$response.body#/orders/0/id"}}}}
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
	token, err := pageToken(c.Request)
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
//	@ID				getOrder
//	@Description	An unknown id and another user's order are both 404.
//	@Tags			orders
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			id				path		string			true	"Order id: a UUID in its 36-character form, either case"	format(uuid)	extensions(x-pattern=^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$)
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		200				{object}	Order			"The order"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		400				{object}	ErrorResponse	"INVALID_ARGUMENT: the id is not a UUID"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		404				{object}	ErrorResponse	"NOT_FOUND: no such order for the caller"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the orders service did not answer in time"
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

// pageLimit parses the limit query parameter: absent means
// orders.DefaultListLimit; otherwise decimal digits (no sign, no spaces)
// of an integer from 1 to orders.MaxListLimit. An empty limit is refused
// like any other non-integer. The range is checked here because the proto
// uses 0 to mean "default", which a client must not be able to send.
func pageLimit(r *http.Request) (int32, error) {
	if _, ok := r.URL.Query()["limit"]; !ok {
		return orders.DefaultListLimit, nil
	}
	s, err := singleQuery(r, "limit")
	if err != nil {
		return 0, err
	}
	bad := fmt.Errorf("limit must be an integer between 1 and %d", orders.MaxListLimit)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > orders.MaxListLimit {
		return 0, bad
	}
	return int32(n), nil
}

// MaxPageTokenLen is the longest page_token the gateway passes on. Tokens
// are URL-safe base64 without padding; whether one is a token the API
// issued to the caller is for the orders service to decide.
const MaxPageTokenLen = 128

// pageToken returns the page_token query parameter: absent or empty means
// the first page; otherwise at most MaxPageTokenLen characters of
// [A-Za-z0-9_-].
func pageToken(r *http.Request) (string, error) {
	s, err := singleQuery(r, "page_token")
	if err != nil {
		return "", err
	}
	if len(s) > MaxPageTokenLen {
		return "", fmt.Errorf("page_token must be at most %d characters", MaxPageTokenLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", errors.New("page_token must be a next_page_token returned by this API")
		}
	}
	return s, nil
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
