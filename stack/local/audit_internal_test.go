package local

import "testing"

// The audit always runs on a schedule under the supervisor: a zero, bad or
// missing AUDIT_INTERVAL (which would make shop-audit run once and exit,
// and the supervisor restart it until it gives up) becomes the default;
// the system's own Env wins over the process's environment, as for the
// services.
func TestAuditIntervalEnv(t *testing.T) {
	tests := []struct {
		name   string
		osEnv  map[string]string
		cfgEnv []string
		want   string
	}{
		{name: "Unset", want: "AUDIT_INTERVAL=5m0s"},
		{name: "FromEnvironment", osEnv: map[string]string{"AUDIT_INTERVAL": "20s"}, want: "AUDIT_INTERVAL=20s"},
		{name: "FromSystemEnv", osEnv: map[string]string{"AUDIT_INTERVAL": "20s"}, cfgEnv: []string{"AUDIT_INTERVAL=1h"}, want: "AUDIT_INTERVAL=1h0m0s"},
		{name: "ZeroIsTheDefault", osEnv: map[string]string{"AUDIT_INTERVAL": "0s"}, want: "AUDIT_INTERVAL=5m0s"},
		{name: "BadIsTheDefault", cfgEnv: []string{"AUDIT_INTERVAL=soon"}, want: "AUDIT_INTERVAL=5m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auditIntervalEnv(func(k string) (string, bool) { v, ok := tt.osEnv[k]; return v, ok }, tt.cfgEnv)
			if got != tt.want {
				t.Errorf("auditIntervalEnv = %q, want %q", got, tt.want)
			}
		})
	}
}
