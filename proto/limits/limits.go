// Package limits holds the limits of the fields that the gateway, orders
// and payments all carry (DESIGN.md section 3): the user id, an amount of
// money and its one currency, and an idempotency key. Each is stated once:
// the gateway checks them on the way in, and each service checks them
// again, since it trusts no caller. A violation is a fault.Invalid error
// whose message is shown to the client.
//
// It sits beside the schema, in the proto module, because the three
// modules that share these fields all depend on that module and it on none
// of theirs. The limits of one domain live with it: an order's description
// and page size in shop/orders, the balance cap in shop/payments.
package limits

import "shop/service/fault"

// Currency is the one currency of the system, carried by every body and
// event with money.
const Currency = "RUB"

// The limits. Money is in minor units (kopecks).
const (
	MaxUserIDLen               = 64
	MinAmount            int64 = 1
	MaxAmount            int64 = 1_000_000_000_000
	MaxIdempotencyKeyLen       = 255
)

// UserID checks that id is 1 to 64 characters of [A-Za-z0-9._-].
func UserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return fault.Errorf(fault.Invalid, "user_id must be 1 to %d characters", MaxUserIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fault.Errorf(fault.Invalid, "user_id must contain only A-Z, a-z, 0-9, '.', '_' and '-'")
		}
	}
	return nil
}

// Amount checks that amount is MinAmount to MaxAmount.
func Amount(amount int64) error {
	if amount < MinAmount || amount > MaxAmount {
		return fault.Errorf(fault.Invalid, "amount must be between %d and %d", MinAmount, MaxAmount)
	}
	return nil
}

// IdempotencyKey checks a present key: 1 to 255 printable ASCII characters
// (0x20 to 0x7E). An absent key is the caller's business.
func IdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return fault.Errorf(fault.Invalid, "idempotency key must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return fault.Errorf(fault.Invalid, "idempotency key must be printable ASCII")
		}
	}
	return nil
}
