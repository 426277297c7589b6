package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	schema "shop/sql"
	"shop/stack/stacktest"
)

// A dead letter's bytes are whatever a producer wrote: list and show print
// them with terminal escape sequences escaped, never raw.
func TestDeadLetterOutputEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	db := stacktest.Get(t).NewDatabase(t, schema.Payments)
	env := map[string]string{"PAYMENTS_DATABASE_URL": db.URL, "PAYMENTS_OPERATOR_DATABASE_URL": db.OperatorURL, "USER": "tester"}
	const esc = "\x1b]0;owned\x07\x1b[2J"
	var id int64
	err := db.Pool.QueryRow(context.Background(), `INSERT INTO dead_letters (topic, partition, "offset", key, value, headers, error)
		VALUES ('orders.events', 0, 1, $1, $2, jsonb_build_object('id', 'x', 'eventType', $3::text, 'x'||chr(155), chr(127)), $4)
		RETURNING id`, []byte("key"+esc), []byte("value"+esc+"\rOK"), "Type"+esc, "error"+esc).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"list"}, {"show", fmt.Sprint(id)}} {
		out := mustShopctl(t, env, append([]string{"dead-letters"}, append(args[:1:1], append([]string{"-service", "payments"}, args[1:]...)...)...)...)
		if i := strings.IndexFunc(out, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f || r == 0x9b }); i >= 0 {
			t.Errorf("dead-letters %s printed control character %q at %d:\n%q", args[0], out[i], i, out)
		}
		if !strings.Contains(out, `\x1b]0;owned\x07`) {
			t.Errorf("dead-letters %s does not show the escaped sequence:\n%s", args[0], out)
		}
	}
}
