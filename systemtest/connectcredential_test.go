package systemtest

import (
	"reflect"
	"strings"
	"testing"

	ordersapp "shop/orders/app"
	paymentsapp "shop/payments/app"
)

// The services hold no Kafka Connect credential (docs/security.md, "The
// services hold no Kafka Connect credential"): their configurations read
// no CONNECT_ variable, so no deployment has a reason to give them one.
func TestServicesReadNoKafkaConnectSetting(t *testing.T) {
	for name, cfg := range map[string]any{"orders": ordersapp.Config{}, "payments": paymentsapp.Config{}} {
		vars := map[string]string{}
		envVars(reflect.TypeOf(cfg), vars)
		if len(vars) == 0 {
			t.Fatalf("%s: no env tags found", name)
		}
		for v := range vars {
			if strings.HasPrefix(v, "CONNECT_") {
				t.Errorf("%s reads %s, want no Kafka Connect setting", name, v)
			}
		}
	}
}
