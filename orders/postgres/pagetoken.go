package postgres

import (
	"context"
	"fmt"

	"shop/orders"
	"shop/sql/pgfault"
)

// PageTokens returns the page token codec keyed with the key in the orders
// database (table page_token_key, made with strong randomness by its
// migration), so that every instance over this database makes and accepts
// the same tokens. The key is read once, on the first call that succeeds,
// and kept for the life of the store: a rotated key (an UPDATE of the row)
// takes effect when the instances restart. Errors are database failures
// (fault kinds through pgfault) or a key shorter than
// orders.MinPageTokenKeyLen. Safe for concurrent use.
func (s *Store) PageTokens(ctx context.Context) (*orders.PageTokens, error) {
	if t := s.tokens.Load(); t != nil {
		return t, nil
	}
	var key []byte
	if err := s.pool.QueryRow(ctx, `SELECT key FROM page_token_key`).Scan(&key); err != nil {
		return nil, pgfault.From("read page token key", err)
	}
	t, err := orders.NewPageTokens(key)
	if err != nil {
		return nil, fmt.Errorf("read page token key: %w", err)
	}
	// Two first calls at once read the same key; either result will do.
	s.tokens.CompareAndSwap(nil, t)
	return s.tokens.Load(), nil
}
