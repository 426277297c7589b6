package stacktest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"shop/connect"
	schema "shop/sql"
	"shop/stack/stacktest"
)

// Kafka Connect's REST API answers only a caller with its credentials:
// none and wrong ones are 401 (one PUT would otherwise reroute a connector).
func TestConnectRESTNeedsCredentials(t *testing.T) {
	env := stacktest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	right := env.ConnectCredentials()
	tests := []struct {
		name     string
		cred     connect.Credentials
		wantAuth bool
	}{
		{"OK", right, true},
		{"ErrNone", connect.Credentials{}, false},
		{"ErrWrongPassword", connect.Credentials{Username: right.Username, Password: right.Password + "x"}, false},
		{"ErrWrongUser", connect.Credentials{Username: "admin", Password: right.Password}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := connect.NewClient(env.ConnectURL, tt.cred)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.List(ctx)
			if tt.wantAuth {
				if err != nil {
					t.Fatalf("GET /connectors with the credentials: %v", err)
				}
				return
			}
			if !connect.IsUnauthorized(err) {
				t.Fatalf("GET /connectors: err = %v, want 401", err)
			}
			// A write is refused the same way, and changes nothing.
			err = c.Pause(ctx, "orders-outbox")
			if !connect.IsUnauthorized(err) {
				t.Fatalf("PUT /connectors/orders-outbox/pause: err = %v, want 401", err)
			}
		})
	}
}

// The replication password reaches Connect through its directory config
// provider: the connector runs (Connect resolved it), and its config, as
// GET /connectors/{name}/config shows it, holds only the reference.
func TestConnectorConfigHoldsNoPassword(t *testing.T) {
	env := stacktest.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := env.NewDatabase(t, schema.Orders)
	password := stacktest.Unique("pw")
	role, _ := replicationRole(t, env, db, password)
	vars := env.ConnectorVars(db, env.NewTopic(t, "orders.events"))
	vars["CONNECT_DB_USER"], vars["CONNECT_DB_PASSWORD_SECRET"] = role, env.ConnectSecret(t, password)
	c, err := stacktest.Connector(db, vars)
	if err != nil {
		t.Fatal(err)
	}
	client := env.ConnectClient(t)
	if err := client.Apply(ctx, c); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Cleanup(func() { _ = client.Delete(context.Background(), c.Name) })
	if err := client.Wait(ctx, c.Name); err != nil {
		t.Fatalf("connector with its password from the provider: %v", err)
	}
	cfg, err := client.Config(ctx, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range cfg {
		if strings.Contains(v, password) {
			t.Errorf("GET /connectors/%s/config: %s holds the password", c.Name, k)
		}
	}
	if got := cfg["database.password"]; !strings.HasPrefix(got, "${dir:"+env.ConnectSecretsDir+":") {
		t.Errorf("database.password = %q, want a ${dir:%s:...} reference", got, env.ConnectSecretsDir)
	}
}
