package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"shop/service"
)

type testConfig struct {
	Name string   `env:"NAME, default=default"`
	List []string `env:"LIST, default=d:1"`
}

func (c *testConfig) Validate() error {
	if len(c.List) == 0 {
		return errors.New("list: no items")
	}
	return nil
}

func mapLookup(m map[string]string) service.Lookup {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		value    *string // nil: unset
		wantStr  string
		wantList []string
		wantErr  bool
	}{
		{name: "Unset", value: nil, wantStr: "default", wantList: []string{"d:1"}},
		{name: "EmptyIsUnset", value: new(""), wantStr: "default", wantList: []string{"d:1"}},
		{name: "BlankIsUnset", value: new(" \t"), wantStr: "default", wantList: []string{"d:1"}},
		{name: "OK", value: new("a:1"), wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "Trimmed", value: new("  a:1 \n"), wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "ListItemsTrimmedEmptiesDropped", value: new(" a:1, b:2 ,,"), wantStr: "a:1,b:2", wantList: []string{"a:1", "b:2"}},
		{name: "ListWithoutItemsFailsValidation", value: new(" , "), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"OTHER": "x"}
			if tt.value != nil {
				m["NAME"], m["LIST"] = *tt.value, *tt.value
			}
			var cfg testConfig
			err := service.Load(context.Background(), mapLookup(m), &cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Load() error = %v, want error %t", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if cfg.Name != tt.wantStr {
				t.Errorf("Name = %q, want %q", cfg.Name, tt.wantStr)
			}
			if diff := cmp.Diff(tt.wantList, cfg.List); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	got := service.Defaults[service.Topics]()
	want := service.Topics{Orders: "orders.events", Payments: "payments.events"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Defaults (-want +got):\n%s", diff)
	}
}
