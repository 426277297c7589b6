package payments

// MaxUserIDLen and MaxIdempotencyKeyLen bound the identifiers, in bytes.
const (
	MaxUserIDLen         = 64
	MaxIdempotencyKeyLen = 255
)

// ValidateUserID checks a user id: 1 to 64 characters of [A-Za-z0-9._-].
func ValidateUserID(id string) error {
	if len(id) == 0 || len(id) > MaxUserIDLen {
		return Invalidf("user id must be 1 to %d characters", MaxUserIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return Invalidf("user id may contain only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// ValidateAmount checks an amount of money: MinAmount to MaxAmount.
func ValidateAmount(amount int64) error {
	if amount < MinAmount || amount > MaxAmount {
		return Invalidf("amount must be between %d and %d", MinAmount, MaxAmount)
	}
	return nil
}

// ValidateIdempotencyKey checks a present idempotency key: 1 to 255 printable
// ASCII characters (0x20 to 0x7E). An absent key is the empty string and is
// not passed here.
func ValidateIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > MaxIdempotencyKeyLen {
		return Invalidf("idempotency key must be 1 to %d characters", MaxIdempotencyKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return Invalidf("idempotency key must be printable ASCII")
		}
	}
	return nil
}
