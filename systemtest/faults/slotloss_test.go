package faults

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"shop/connect"
	"shop/service"
	"shop/stack/local"
)

// The services' outbox purge in the matrix's shop runs every purgeInterval
// and deletes published rows older than outboxRetention, so that a fault
// meets a purge at work: a backlog older than the retention is one the purge
// would delete if it trusted the slot.
const (
	outboxRetention = 2 * time.Second
	purgeInterval   = time.Second
)

// purgeEnv is the services' environment for the purge above.
func purgeEnv() []string {
	return []string{"OUTBOX_RETENTION=" + outboxRetention.String(), "PURGE_INTERVAL=" + purgeInterval.String()}
}

// loseSlot is the fault "slot lost under backlog": the orders connector is
// stopped (its slot goes inactive) while orders keep coming, until more than
// a purge window of outbox rows waits unpublished, older than the
// retention; its replication slot is then dropped, and the connector
// resumed: it finds its slot gone, creates it again and snapshots the
// outbox (snapshot.mode when_needed). It returns once the connector runs on
// its new slot. The matrix's checks then show whether every order of the
// backlog reached Kafka (each ends PAID or CANCELLED): a purge that trusted
// the new slot, which is past every old marker, could delete rows before
// they were published.
func (sh *shop) loseSlot(ctx context.Context, log *slog.Logger) error {
	name := service.Defaults[service.OrdersConnector]().Name
	slot := service.Defaults[service.OrdersSlot]().Name
	client, err := connect.NewClient(sh.sys.ConnectURL(), sh.sys.ConnectCredentials())
	if err != nil {
		return err
	}
	admin, err := pgx.Connect(ctx, sh.sys.AdminURL(local.Orders))
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	ctx, cancel := context.WithTimeout(ctx, backTimeout)
	defer cancel()
	poll := func(what string, cond func() (bool, error)) error {
		for {
			ok, err := cond()
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w", what, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	slotState := func() (exists, active bool, err error) {
		err = admin.QueryRow(ctx, `SELECT count(*) = 1, coalesce(bool_or(active), false)
			FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&exists, &active)
		return exists, active, err
	}

	if err := client.Stop(ctx, name); err != nil {
		return err
	}
	log.Info("connector stopped", "connector", name)
	if err := poll("the slot inactive", func() (bool, error) {
		_, active, err := slotState()
		return !active, err
	}); err != nil {
		return err
	}
	// More than a purge window: rows older than the retention, waiting
	// through several purge runs.
	start := time.Now()
	var waiting int
	if err := poll("a backlog older than the retention", func() (bool, error) {
		err := admin.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE created_at < now() - make_interval(secs => $1)`,
			outboxRetention.Seconds()).Scan(&waiting)
		return waiting > 0 && time.Since(start) > outboxRetention+3*purgeInterval, err
	}); err != nil {
		return err
	}
	if _, err := admin.Exec(ctx, `SELECT pg_drop_replication_slot($1)`, slot); err != nil {
		return fmt.Errorf("drop slot %s: %w", slot, err)
	}
	log.Info("slot dropped under backlog", "slot", slot, "rows older than the retention", waiting)
	if err := client.Resume(ctx, name); err != nil {
		return err
	}
	if err := poll("the slot created again and streamed from", func() (bool, error) {
		exists, active, err := slotState()
		return exists && active, err
	}); err != nil {
		return err
	}
	return client.Wait(ctx, name)
}
