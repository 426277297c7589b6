package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	ordersv1 "shop/proto/orders/v1"
	paymentsv1 "shop/proto/payments/v1"
)

// Paging limits of GET /orders. The range is checked here because the
// proto uses 0 to mean "default", which a client must not be able to send.
const (
	defaultPageLimit = 20
	maxPageLimit     = 100
)

// HeaderIdempotencyReplayed marks a response that is the stored answer to
// an earlier request with the same Idempotency-Key.
const HeaderIdempotencyReplayed = "Idempotency-Replayed"

type handlers struct {
	orders   ordersv1.OrderServiceClient
	payments paymentsv1.PaymentServiceClient
	probes   []Probe
	timeout  time.Duration
	errs     errorResponder
}

// backendContext bounds one backend call by the configured timeout.
func (h *handlers) backendContext(c *gin.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), h.timeout)
}

// caller returns the user id that the authenticate middleware stored.
func caller(c *gin.Context) (string, error) {
	id, ok := IdentityFrom(c.Request.Context())
	if !ok {
		return "", errors.New("no identity in request context: authenticate middleware missing")
	}
	return id.UserID(), nil
}

// createAccount opens the caller's account.
//
//	@Summary		Open the caller's account
//	@Description	Opens the caller's account with a zero balance. A user has at most one account.
//	@Tags			account
//	@Produce		json
//	@Security		UserID
//	@Param			X-Request-ID	header		string			false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Success		201				{object}	Account			"The new account"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		409				{object}	ErrorResponse	"ACCOUNT_EXISTS: the caller already has an account"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the payments service did not answer"
//	@Router			/api/v1/account [post]
func (h *handlers) createAccount(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	ctx, cancel := h.backendContext(c)
	defer cancel()
	resp, err := h.payments.CreateAccount(ctx, &paymentsv1.CreateAccountRequest{UserId: user})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	h.writeAccount(c, http.StatusCreated, resp.GetAccount(), false)
}

// getAccount returns the caller's account.
//
//	@Summary		Get the caller's account
//	@Tags			account
//	@Produce		json
//	@Security		UserID
//	@Param			X-Request-ID	header		string			false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Success		200				{object}	Account			"The account with its current balance"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		404				{object}	ErrorResponse	"NOT_FOUND: the caller has no account"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the payments service did not answer"
//	@Router			/api/v1/account [get]
func (h *handlers) getAccount(c *gin.Context) {
	user, err := caller(c)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	ctx, cancel := h.backendContext(c)
	defer cancel()
	resp, err := h.payments.GetAccount(ctx, &paymentsv1.GetAccountRequest{UserId: user})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	h.writeAccount(c, http.StatusOK, resp.GetAccount(), false)
}

// topUp credits the caller's account.
//
//	@Summary		Top up the caller's account
//	@Description	Credits amount minor units. With an Idempotency-Key, a repeat with the same body returns the first response (same status and body) and credits nothing.
//	@Tags			account
//	@Accept			json
//	@Produce		json
//	@Security		UserID
//	@Param			Idempotency-Key	header		string					false	"1 to 255 printable ASCII characters, scoped to the caller"
//	@Param			X-Request-ID	header		string					false	"Correlation id, echoed back (1 to 128 visible ASCII characters)"
//	@Param			body			body		TopUpRequest			true	"Amount to credit"
//	@Success		200				{object}	Account					"The account with its new balance"
//	@Header			all				{string}	X-Request-ID			"The request's correlation id"
//	@Header			200				{string}	Idempotency-Replayed	"true when this is the stored response of an earlier request"
//	@Failure		400				{object}	ErrorResponse			"INVALID_ARGUMENT: malformed JSON, unknown field, wrong type, amount missing or out of range, malformed Idempotency-Key"
//	@Failure		401				{object}	ErrorResponse			"UNAUTHENTICATED: missing or malformed X-User-ID"
//	@Failure		404				{object}	ErrorResponse			"NOT_FOUND: the caller has no account"
//	@Failure		409				{object}	ErrorResponse			"IDEMPOTENCY_KEY_IN_USE: a request with this key is still in flight"
//	@Failure		413				{object}	ErrorResponse			"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		422				{object}	ErrorResponse			"BALANCE_LIMIT_EXCEEDED: the balance would pass 1000000000000000; IDEMPOTENCY_KEY_REUSED: the key was used with a different body"
//	@Failure		500				{object}	ErrorResponse			"INTERNAL"
//	@Failure		503				{object}	ErrorResponse			"UNAVAILABLE: the payments service did not answer"
//	@Router			/api/v1/account/top-up [post]
func (h *handlers) topUp(c *gin.Context) {
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
	var req TopUpRequest
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
	resp, err := h.payments.TopUp(ctx, &paymentsv1.TopUpRequest{UserId: user, Amount: *req.Amount, IdempotencyKey: key})
	if err != nil {
		h.errs.fail(c, fromBackend(err))
		return
	}
	h.writeAccount(c, http.StatusOK, resp.GetAccount(), resp.GetReplayed())
}

func (h *handlers) writeAccount(c *gin.Context, status int, a *paymentsv1.Account, replayed bool) {
	acc, err := accountFromProto(a)
	if err != nil {
		h.errs.fail(c, err)
		return
	}
	if replayed {
		c.Header(HeaderIdempotencyReplayed, "true")
	}
	c.JSON(status, acc)
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

// pageLimit parses the limit query parameter: absent or empty means the
// default; otherwise a decimal integer from 1 to 100.
func pageLimit(r *http.Request) (int32, error) {
	s, err := singleQuery(r, "limit")
	if err != nil {
		return 0, err
	}
	if s == "" {
		return defaultPageLimit, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 || n > maxPageLimit {
		return 0, fmt.Errorf("limit must be an integer between 1 and %d", maxPageLimit)
	}
	return int32(n), nil
}

// singleQuery returns the query parameter name, "" when absent, or an
// error when it is given more than once.
func singleQuery(r *http.Request, name string) (string, error) {
	vals := r.URL.Query()[name]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return vals[0], nil
	}
	return "", fmt.Errorf("%s must be given at most once", name)
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
