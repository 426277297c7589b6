package load

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// AccountTopUp is what OpenAccounts gives every account: the largest top-up
// there is, enough for 10^10 orders of 100.
const AccountTopUp = 1_000_000_000_000

// accountWorkers is how many accounts OpenAccounts opens at a time.
const accountWorkers = 16

// UserNames returns n user names <prefix>-<runID in lower case>-<i>.
func UserNames(prefix, runID string, n int) []string {
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("%s-%s-%d", prefix, strings.ToLower(runID), i)
	}
	return users
}

// OpenAccounts creates the account of every user and tops it up by
// AccountTopUp, 16 at a time, each with a 30 s deadline. The first error,
// or the end of ctx, stops it.
func (c *Client) OpenAccounts(ctx context.Context, users []string, log *slog.Logger) error {
	n := len(users)
	log.Info("opening accounts", "count", n, "top_up", AccountTopUp)
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(accountWorkers)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error {
			actx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			return c.OpenAccount(actx, users[i], AccountTopUp)
		})
	}
	firstErr := g.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return fmt.Errorf("open accounts: %w", firstErr)
	}
	log.Info("accounts ready", "count", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
