package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"shop/cdc/inbox"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// applyIfAllowed records m in applied when its key is in the table allowed,
// and is Undecodable otherwise: a message whose cause an operator can fix.
func applyIfAllowed(ctx context.Context, tx pgx.Tx, m inbox.Message) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM allowed WHERE key = $1)`, m.Key).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return inbox.Undecodable(fmt.Errorf("key %q not allowed", m.Key))
	}
	return record(ctx, tx, m)
}

type deadLetterState struct {
	Error      string
	Resolution *string
	HandledBy  *string
	Reason     *string
	Handled    bool
}

func deadLetterOf(t *testing.T, pool *pgxpool.Pool, id int64) deadLetterState {
	t.Helper()
	var s deadLetterState
	if err := pool.QueryRow(context.Background(), `SELECT error, resolution, handled_by, reason, handled_at IS NOT NULL
		FROM dead_letters WHERE id = $1`, id).Scan(&s.Error, &s.Resolution, &s.HandledBy, &s.Reason, &s.Handled); err != nil {
		t.Fatal(err)
	}
	return s
}

func actions(t *testing.T, pool *pgxpool.Pool, id int64) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT action || ' by ' || actor FROM dead_letter_actions
		WHERE dead_letter_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func deadLetterID(t *testing.T, pool *pgxpool.Pool, key string) int64 {
	t.Helper()
	var id int64
	if err := pool.QueryRow(context.Background(), `SELECT id FROM dead_letters WHERE key = $1`, []byte(key)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestReplay dead-letters messages through the consumer and replays them:
// a message whose cause was fixed is applied once, and a second replay
// changes nothing; a message still unusable stays an unhandled dead letter
// with the new error; every attempt is in the audit trail.
func TestReplay(t *testing.T) {
	t.Parallel()
	env := stacktest.Get(t)
	db := appliedDatabase(t, env, schema.Orders)
	ctx := context.Background()
	if _, err := db.Owner.Exec(ctx, `CREATE TABLE allowed (key text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	topic := env.NewTopic(t, "replay")
	fixable := uuid.NewString()
	sendTo(t, env, []*sarama.ProducerMessage{
		msg(topic, "fixable", `{"n":1}`, "id", fixable, "eventType", "T"),
		msg(topic, "noid", `{"n":2}`, "eventType", "T"),
	})
	run(t, inbox.Config{Kafka: env.Kafka(stacktest.Tester), Topic: topic, Pool: db.Pool, Apply: applyIfAllowed})
	waitCount(t, db.Pool, 2, `SELECT count(*) FROM dead_letters WHERE handled_at IS NULL`)
	fixID, noID := deadLetterID(t, db.Pool, "fixable"), deadLetterID(t, db.Pool, "noid")

	// Not fixed yet: still dead, nothing applied.
	res, err := inbox.Replay(ctx, db.Operator, fixID, applyIfAllowed, "alice")
	if err != nil || res.Outcome != inbox.StillDead || res.EventID != fixable {
		t.Fatalf("replay before the fix = %+v, %v; want still dead", res, err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox WHERE event_id = $1`, fixable); n != 0 {
		t.Fatalf("a failed replay left its event in the inbox")
	}

	if _, err := db.Pool.Exec(ctx, `INSERT INTO allowed VALUES ('fixable')`); err != nil {
		t.Fatal(err)
	}
	for i, want := range []inbox.ReplayOutcome{inbox.Replayed, inbox.AlreadyHandled} {
		res, err := inbox.Replay(ctx, db.Operator, fixID, applyIfAllowed, "bob")
		if err != nil || res.Outcome != want {
			t.Fatalf("replay %d = %+v, %v; want %s", i+1, res, err, want)
		}
		if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied WHERE event_id = $1`, fixable); n != 1 {
			t.Fatalf("after replay %d: applied %d times, want once", i+1, n)
		}
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox WHERE event_id = $1`, fixable); n != 1 {
		t.Errorf("inbox rows of the replayed event: %d, want 1", n)
	}
	s := deadLetterOf(t, db.Pool, fixID)
	if !s.Handled || s.Resolution == nil || *s.Resolution != "replayed" || s.HandledBy == nil || *s.HandledBy != "bob" {
		t.Errorf("replayed dead letter: %+v", s)
	}
	if got, want := fmt.Sprint(actions(t, db.Pool, fixID)), "[replay_failed by alice replayed by bob]"; got != want {
		t.Errorf("audit trail %s, want %s", got, want)
	}

	// Headers that cannot be fixed: the new error is recorded.
	if _, err := db.Operator.Exec(ctx, `UPDATE dead_letters SET error = 'old' WHERE id = $1`, noID); err != nil {
		t.Fatal(err)
	}
	res, err = inbox.Replay(ctx, db.Operator, noID, applyIfAllowed, "alice")
	if err != nil || res.Outcome != inbox.StillDead {
		t.Fatalf("replay of a message without id = %+v, %v; want still dead", res, err)
	}
	if s := deadLetterOf(t, db.Pool, noID); s.Handled || s.Error == "old" || s.Error != res.Err {
		t.Errorf("dead letter after a failed replay: %+v, want unhandled with error %q", s, res.Err)
	}

	// Discard keeps the row with its reason; a second discard and a replay
	// of a discarded letter do nothing.
	if err := inbox.Discard(ctx, db.Operator, noID, "carol", ""); err == nil {
		t.Errorf("discard without a reason succeeded")
	}
	if err := inbox.Discard(ctx, db.Operator, noID, "carol", "producer bug, order refunded by hand"); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Discard(ctx, db.Operator, noID, "carol", "again"); !errors.Is(err, inbox.ErrHandled) {
		t.Errorf("second discard = %v, want ErrHandled", err)
	}
	if res, err := inbox.Replay(ctx, db.Operator, noID, applyIfAllowed, "alice"); err != nil || res.Outcome != inbox.AlreadyHandled || res.Resolution != "discarded" {
		t.Errorf("replay of a discarded letter = %+v, %v", res, err)
	}
	s = deadLetterOf(t, db.Pool, noID)
	if s.Resolution == nil || *s.Resolution != "discarded" || s.Reason == nil || *s.Reason != "producer bug, order refunded by hand" {
		t.Errorf("discarded dead letter: %+v", s)
	}
	if got, want := fmt.Sprint(actions(t, db.Pool, noID)), "[replay_failed by alice discarded by carol]"; got != want {
		t.Errorf("audit trail %s, want %s", got, want)
	}
	if _, err := inbox.Replay(ctx, db.Operator, 1<<40, applyIfAllowed, "alice"); !errors.Is(err, inbox.ErrNoDeadLetter) {
		t.Errorf("replay of an unknown id = %v, want ErrNoDeadLetter", err)
	}
}

// TestReplayAppliedEventOrTransientError replays a dead letter whose event
// id is in the inbox already (applied under another offset): nothing is
// applied again; and one whose apply fails transiently: nothing changes and
// the error is returned.
func TestReplayAppliedEventOrTransientError(t *testing.T) {
	t.Parallel()
	db := appliedDatabase(t, stacktest.Get(t), schema.Orders)
	ctx := context.Background()
	insert := func(key string, eventID uuid.UUID, offset int) int64 {
		var id int64
		err := db.Pool.QueryRow(ctx, `INSERT INTO dead_letters (topic, partition, "offset", key, value, headers, error)
			VALUES ('t', 0, $1, $2, '{}', jsonb_build_object('id', $3::text, 'eventType', 'T'), 'x') RETURNING id`,
			offset, []byte(key), eventID.String()).Scan(&id)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	applied := uuid.New()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO inbox (event_id, topic, partition, "offset") VALUES ($1, 't', 0, 1)`, applied); err != nil {
		t.Fatal(err)
	}
	id := insert("k", applied, 2)
	res, err := inbox.Replay(ctx, db.Operator, id, record, "op")
	if err != nil || res.Outcome != inbox.AlreadyApplied {
		t.Fatalf("replay of an applied event = %+v, %v; want already applied", res, err)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM applied`); n != 0 {
		t.Errorf("an event already in the inbox was applied again")
	}
	if s := deadLetterOf(t, db.Pool, id); s.Resolution == nil || *s.Resolution != "replayed" {
		t.Errorf("dead letter of an applied event: %+v, want replayed", s)
	}

	id = insert("k2", uuid.New(), 3)
	boom := errors.New("connection lost")
	_, err = inbox.Replay(ctx, db.Operator, id, func(context.Context, pgx.Tx, inbox.Message) error { return boom }, "op")
	if !errors.Is(err, boom) {
		t.Fatalf("replay with a transient error = %v, want it returned", err)
	}
	if s := deadLetterOf(t, db.Pool, id); s.Handled || s.Error != "x" || len(actions(t, db.Pool, id)) != 0 {
		t.Errorf("a transient failure changed the dead letter: %+v", s)
	}
	if n := stacktest.Count(t, db.Pool, `SELECT count(*) FROM inbox`); n != 1 {
		t.Errorf("inbox rows %d, want 1", n)
	}
}
