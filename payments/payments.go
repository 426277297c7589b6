// Package payments holds the domain of the payments service: accounts and
// their top-ups (account.go), and the payment decision on an order
// (payment.go). Errors are shop/service/fault errors; the limits of single
// fields (user id, amount, idempotency key, the one currency, the balance
// cap) are those of shop/service/limits.
//
// Money is an int64 number of minor units (kopecks) of limits.Currency.
package payments
