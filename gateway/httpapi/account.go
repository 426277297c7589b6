package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	paymentsv1 "shop/proto/payments/v1"
)

// Account is a user's account as the REST API shows it.
type Account struct {
	UserID string `json:"user_id" example:"alice" validate:"required"`
	// Balance in minor units (kopecks), 0 to 1000000000000000.
	Balance   int64     `json:"balance" format:"int64" minimum:"0" maximum:"1000000000000000" example:"150000" validate:"required"`
	Currency  string    `json:"currency" enums:"RUB" example:"RUB" validate:"required"`
	CreatedAt time.Time `json:"created_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z" validate:"required"`
	UpdatedAt time.Time `json:"updated_at" format:"date-time" example:"2025-01-02T15:04:05.123456Z" validate:"required"`
} // @name Account

// TopUpRequest is the body of POST /account/top-up. Its limits are
// limits.MinAmount and limits.MaxAmount (openapi_test.go holds the
// document to them).
type TopUpRequest struct {
	// Amount to credit in minor units (kopecks), 1 to 1000000000000.
	Amount *int64 `json:"amount" format:"int64" minimum:"1" maximum:"1000000000000" example:"100000" validate:"required"`
} // @name TopUpRequest

// createAccount opens the caller's account.
//
//	@Summary		Open the caller's account
//	@ID				createAccount
//	@Description	Opens the caller's account with a zero balance. A user has at most one account.
//	@Tags			account
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		201				{object}	Account			"The new account"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		409				{object}	ErrorResponse	"ACCOUNT_EXISTS: the caller already has an account"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the payments service did not answer in time"
//	@x-response-links	{"201": {"TopUp": {"operationId": "topUp"}, "GetAccount": {"operationId": "getAccount"}}}
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
//	@ID				getAccount
//	@Tags			account
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			X-Request-ID	header		string			false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Success		200				{object}	Account			"The account with its current balance"
//	@Header			all				{string}	X-Request-ID	"The request's correlation id"
//	@Failure		401				{object}	ErrorResponse	"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		404				{object}	ErrorResponse	"NOT_FOUND: the caller has no account"
//	@Failure		413				{object}	ErrorResponse	"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		429				{object}	ErrorResponse	"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After		"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse	"INTERNAL"
//	@Failure		503				{object}	ErrorResponse	"UNAVAILABLE: the payments service did not answer in time"
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
//	@ID				topUp
//	@Description	Credits amount minor units. With an Idempotency-Key, a repeat with the same body returns the first response (same status and body) and credits nothing.
//	@Tags			account
//	@Accept			json
//	@Produce		json
//	@Security		UserID
//	@Security		BearerAuth
//	@Param			Idempotency-Key	header		string					false	"Makes the request repeatable: 1 to 255 printable ASCII characters with at least one that is not a space (HTTP drops surrounding spaces), scoped to the caller"	minlength(1)	maxlength(255)	extensions(x-pattern=^[ -~]*[!-~][ -~]*$)
//	@Param			X-Request-ID	header		string					false	"Correlation id: echoed back when it is 1 to 128 visible ASCII characters, else replaced by a new one"
//	@Param			body			body		TopUpRequest			true	"Amount to credit"
//	@Success		200				{object}	Account					"The account with its new balance"
//	@Header			all				{string}	X-Request-ID			"The request's correlation id"
//	@Header			200				{string}	Idempotency-Replayed	"true when this is the stored response of an earlier request with the same Idempotency-Key"
//	@Failure		400				{object}	ErrorResponse			"INVALID_ARGUMENT: malformed JSON, unknown or repeated field, wrong type, amount missing or out of range, malformed Idempotency-Key"
//	@Failure		401				{object}	ErrorResponse			"UNAUTHENTICATED: no valid identity (see the security schemes)"
//	@Failure		404				{object}	ErrorResponse			"NOT_FOUND: the caller has no account"
//	@Failure		409				{object}	ErrorResponse			"IDEMPOTENCY_KEY_IN_USE: a request with this key is still in flight"
//	@Failure		413				{object}	ErrorResponse			"PAYLOAD_TOO_LARGE: body over 64 KiB"
//	@Failure		422				{object}	ErrorResponse			"BALANCE_LIMIT_EXCEEDED: the balance would pass 1000000000000000; IDEMPOTENCY_KEY_REUSED: the key was used with a different body"
//	@Failure		429				{object}	ErrorResponse			"RESOURCE_EXHAUSTED: over the caller's rate limit"
//	@Header			429				{integer}	Retry-After				"Seconds to wait before a retry"
//	@Failure		500				{object}	ErrorResponse			"INTERNAL"
//	@Failure		503				{object}	ErrorResponse			"UNAVAILABLE: the payments service did not answer in time"
//	@x-response-links	{"200": {"CreateOrder": {"operationId": "createOrder"}, "GetAccount": {"operationId": "getAccount"}}}
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

// writeAccount answers with a, marked as replayed when it is the stored
// response of an earlier request.
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
