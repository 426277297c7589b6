package lifecycle_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"shop/lifecycle"
)

func mapEnv(m map[string]string) lifecycle.Env {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestEnv(t *testing.T) {
	const defaultStr = "default"
	defaultList := []string{"d:1"}
	tests := []struct {
		name     string
		value    *string // nil: unset
		wantOK   bool
		wantStr  string
		wantList []string
	}{
		{name: "Unset", value: nil, wantStr: defaultStr, wantList: defaultList},
		{name: "EmptyIsUnset", value: new(""), wantStr: defaultStr, wantList: defaultList},
		{name: "BlankIsUnset", value: new(" \t"), wantStr: defaultStr, wantList: defaultList},
		{name: "OK", value: new("a:1"), wantOK: true, wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "Trimmed", value: new("  a:1 \n"), wantOK: true, wantStr: "a:1", wantList: []string{"a:1"}},
		{name: "ListItemsTrimmedEmptiesDropped", value: new(" a:1, b:2 ,,"), wantOK: true, wantStr: "a:1, b:2 ,,", wantList: []string{"a:1", "b:2"}},
		{name: "ListWithoutItems", value: new(" , "), wantOK: true, wantStr: ",", wantList: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{"OTHER": "x"}
			if tt.value != nil {
				m["NAME"] = *tt.value
			}
			env := mapEnv(m)

			v, ok := env.Lookup("NAME")
			if ok != tt.wantOK || (ok && v != tt.wantStr) {
				t.Errorf("Lookup() = %q, %t; want %q, %t", v, ok, tt.wantStr, tt.wantOK)
			}
			s := defaultStr
			env.String("NAME", &s)
			if s != tt.wantStr {
				t.Errorf("String() set %q, want %q", s, tt.wantStr)
			}
			l := defaultList
			env.List("NAME", &l)
			if diff := cmp.Diff(tt.wantList, l); diff != "" {
				t.Errorf("List() (-want +got):\n%s", diff)
			}
		})
	}
}
