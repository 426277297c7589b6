// Package payments holds the domain of the payments service: accounts and
// their top-ups, and the payment decision on an order. Errors are shop/service/fault errors; the limits of the
// fields it shares with orders and the gateway (user id, amount,
// idempotency key, the one currency) are those of shop/proto/limits, the
// balance cap is MaxBalance.
//
// Money is an int64 number of minor units (kopecks) of limits.Currency.
package payments
