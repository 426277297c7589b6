package schema_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	schema "shop/sql"
	"shop/stack/stacktest"
)

// RegisterUUID encodes and scans uuid.UUID as pgtype.UUID does, in both
// formats, and leaves other values and NULL as pgx's general path does.
func TestRegisterUUID(t *testing.T) {
	id := uuid.MustParse("0192f0c4-7d5e-7a3b-9c1d-2e3f4a5b6c7d")
	tests := []struct {
		name   string
		format int16
		value  any
		want   []byte // nil: encodes NULL
	}{
		{name: "Binary", format: pgtype.BinaryFormatCode, value: id, want: id[:]},
		{name: "Text", format: pgtype.TextFormatCode, value: id, want: []byte(id.String())},
		{name: "Pointer", format: pgtype.BinaryFormatCode, value: &id, want: id[:]},
		{name: "NilPointer", format: pgtype.BinaryFormatCode, value: (*uuid.UUID)(nil), want: nil},
		{name: "Nil", format: pgtype.BinaryFormatCode, value: uuid.Nil, want: make([]byte, 16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := pgtype.NewMap()
			schema.RegisterUUID(m)
			got, err := m.Encode(pgtype.UUIDOID, tt.format, tt.value, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("encoded %x, want %x", got, tt.want)
			}
			if tt.want == nil {
				return
			}
			var back uuid.UUID
			if err := m.Scan(pgtype.UUIDOID, tt.format, got, &back); err != nil {
				t.Fatal(err)
			}
			if want := *asUUID(tt.value); back != want {
				t.Errorf("scanned %s, want %s", back, want)
			}
		})
	}

	t.Run("ScanNullLeavesTargetUnchanged", func(t *testing.T) {
		m := pgtype.NewMap()
		schema.RegisterUUID(m)
		got := id
		if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, nil, &got); err != nil {
			t.Fatal(err)
		}
		if got != id {
			t.Errorf("NULL scan changed the target to %s", got)
		}
	})

	// The point of it: no detour through driver.Valuer, its string and its
	// dropped error. Fewer allocations than pgx's default path.
	t.Run("FewerAllocations", func(t *testing.T) {
		plain, registered := pgtype.NewMap(), pgtype.NewMap()
		schema.RegisterUUID(registered)
		allocs := func(m *pgtype.Map) float64 {
			buf := make([]byte, 0, 64)
			return testing.AllocsPerRun(100, func() {
				if _, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, buf[:0]); err != nil {
					t.Fatal(err)
				}
			})
		}
		if p, r := allocs(plain), allocs(registered); r >= p {
			t.Errorf("allocations per encode: %v registered, %v without; want fewer", r, p)
		}
	})
}

func asUUID(v any) *uuid.UUID {
	switch v := v.(type) {
	case uuid.UUID:
		return &v
	case *uuid.UUID:
		return v
	}
	return nil
}

// A pool from Open round-trips uuid.UUID through real uuid columns and
// parameters, including arrays, NULL and a uuid bound to a text parameter.
func TestOpenUUIDRoundTrip(t *testing.T) {
	db := stacktest.Get(t).NewDatabase(t, schema.Orders)
	ctx := context.Background()
	pool, err := schema.Open(ctx, db.URL, schema.Orders)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, b := uuid.New(), uuid.Must(uuid.NewV7())

	var got uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT $1::uuid`, a).Scan(&got); err != nil || got != a {
		t.Errorf("SELECT $1::uuid: got %s, %v; want %s", got, err, a)
	}
	var text string
	if err := pool.QueryRow(ctx, `SELECT $1::text`, a).Scan(&text); err != nil || text != a.String() {
		t.Errorf("SELECT $1::text: got %q, %v; want %q", text, err, a.String())
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::uuid[]) u WHERE u = ANY($2)`,
		[]uuid.UUID{a, b}, []uuid.UUID{b}).Scan(&n); err != nil || n != 1 {
		t.Errorf("arrays: got %d, %v; want 1", n, err)
	}
	var null uuid.NullUUID
	var ptr *uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT NULL::uuid, NULL::uuid`).Scan(&null, &ptr); err != nil || null.Valid || ptr != nil {
		t.Errorf("NULL into NullUUID and *uuid.UUID: got %v, %v, %v", null, ptr, err)
	}
	var fromText uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT $1::uuid::text`, b).Scan(&fromText); err != nil || fromText != b {
		t.Errorf("text column into uuid.UUID: got %s, %v; want %s", fromText, err, b)
	}
}
