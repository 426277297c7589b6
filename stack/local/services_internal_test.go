package local

import (
	"slices"
	"testing"
)

func TestServiceRuntimeEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "Unset", env: map[string]string{}, want: []string{"GOMAXPROCS=1"}},
		{name: "SetStands", env: map[string]string{"GOMAXPROCS": "2"}, want: nil},
		{name: "SetEmptyStands", env: map[string]string{"GOMAXPROCS": ""}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceRuntimeEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if !slices.Equal(got, tt.want) {
				t.Errorf("serviceRuntimeEnv = %q, want %q", got, tt.want)
			}
		})
	}
}
