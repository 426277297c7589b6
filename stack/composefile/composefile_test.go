package composefile_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"shop/connect"
	"shop/stack/composefile"
)

const file = "../../docker-compose.yml"

// The variables each service's code reads (see docs/configuration.md and each
// app.Config): the file must set them, since the code's defaults point at
// 127.0.0.1 and containers reach each other by service name.
var wantEnv = map[string][]string{
	"orders": {"ORDERS_GRPC_ADDR", "ORDERS_ADMIN_ADDR", "ORDERS_DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
		"PAYMENTS_TOPIC", "ORDERS_CONSUMER_GROUP"},
	"payments": {"PAYMENTS_GRPC_ADDR", "PAYMENTS_ADMIN_ADDR", "PAYMENTS_DATABASE_URL", "KAFKA_BROKERS", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD",
		"ORDERS_TOPIC", "PAYMENTS_CONSUMER_GROUP"},
	"kafka-auth": {"KAFKA_BROKERS", "KAFKA_ADMIN_PASSWORD", "KAFKA_ORDERS_PASSWORD", "KAFKA_PAYMENTS_PASSWORD", "KAFKA_CONNECT_PASSWORD",
		"KAFKA_SHOPCTL_PASSWORD", "ORDERS_TOPIC", "PAYMENTS_TOPIC"},
	"gateway":    {"GATEWAY_HTTP_ADDR", "GATEWAY_ADMIN_ADDR", "ORDERS_GRPC_ADDR", "PAYMENTS_GRPC_ADDR", "GATEWAY_BACKEND_TIMEOUT", "AUTH_MODE", "AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE"},
	"connectors": {"CONNECT_URL", "CONNECT_USERNAME", "CONNECT_PASSWORD_FILE", "CONNECT_DB_HOST", "CONNECT_DB_PORT", "CONNECT_DB_USER", "ORDERS_TOPIC", "PAYMENTS_TOPIC"},
	"migrate":    {"ORDERS_MIGRATION_DATABASE_URL", "PAYMENTS_MIGRATION_DATABASE_URL"},
	"audit":      {"PAYMENTS_DATABASE_URL", "ORDERS_DATABASE_URL", "AUDIT_INTERVAL", "AUDIT_ADMIN_ADDR"},
	"postgres": {"POSTGRES_PASSWORD", "ORDERS_OWNER_DB_PASSWORD", "ORDERS_DB_PASSWORD", "PAYMENTS_OWNER_DB_PASSWORD",
		"PAYMENTS_DB_PASSWORD", "DEBEZIUM_DB_PASSWORD", "AUDIT_DB_PASSWORD"},
	"connect": {"KAFKA_OPTS", "BOOTSTRAP_SERVERS", "GROUP_ID", "CONFIG_STORAGE_TOPIC", "OFFSET_STORAGE_TOPIC", "STATUS_STORAGE_TOPIC",
		"CONNECT_CONFIG_PROVIDERS", "CONNECT_REST_EXTENSION_CLASSES", "CONNECT_USERNAME",
		"CONNECT_SASL_JAAS_CONFIG", "CONNECT_PRODUCER_SASL_JAAS_CONFIG", "CONNECT_CONSUMER_SASL_JAAS_CONFIG",
		"CONNECT_ADMIN_SASL_JAAS_CONFIG"},
	"kafka": {"KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG", "KAFKA_AUTHORIZER_CLASS_NAME", "KAFKA_SUPER_USERS",
		"KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"},
}

// The published ports: the gateway's, nothing else.
var wantPorts = map[string]uint32{"gateway": 8080}

// exampleEnv is .env.example with a value for every variable, as a user
// fills it in.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(name, "#") {
			env[name] = "value-of-" + strings.ToLower(name)
		}
	}
	return env
}

func TestComposeFileDescribesTheSystem(t *testing.T) {
	p, err := composefile.Load(context.Background(), file, exampleEnv(t))
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if got, want := strings.Join(names, ","), "audit,connect,connectors,gateway,jmx-exporter,kafka,kafka-auth,migrate,orders,payments,pki,postgres"; got != want {
		t.Errorf("services = %s, want %s", got, want)
	}
	for svc, vars := range wantEnv {
		s, ok := p.Services[svc]
		if !ok {
			continue
		}
		for _, v := range vars {
			if val := s.Environment[v]; val == nil || *val == "" {
				t.Errorf("service %s: environment %s is not set", svc, v)
			}
		}
	}
	for svc, port := range wantPorts {
		found := false
		for _, pc := range p.Services[svc].Ports {
			if pc.Target == port && pc.Published == itoa(port) {
				found = true
			}
		}
		if !found {
			t.Errorf("service %s does not publish port %d", svc, port)
		}
	}
	for _, svc := range []string{"orders", "payments", "gateway", "connectors", "migrate", "audit", "kafka-auth"} {
		b := p.Services[svc].Build
		if b == nil {
			t.Errorf("service %s has no build", svc)
			continue
		}
		if _, err := os.Stat(filepath.Join(b.Context, b.Dockerfile)); err != nil {
			t.Errorf("service %s: dockerfile: %v", svc, err)
		}
		prog := b.Args["PROGRAM"]
		if prog == nil {
			t.Errorf("service %s: no PROGRAM build arg", svc)
			continue
		}
		if _, err := os.Stat(filepath.Join(b.Context, *prog, "main.go")); err != nil {
			t.Errorf("service %s: program %s: %v", svc, *prog, err)
		}
	}
	if pg := p.Services["postgres"]; !strings.Contains(strings.Join(pg.Command, " "), "wal_level=logical") {
		t.Errorf("postgres command %q lacks wal_level=logical", pg.Command)
	}
}

// Every placeholder of the connector configs without a default must be set
// for the connectors job, and the bundled configs must render with its
// environment.
func TestConnectorsJobRendersTheConfigs(t *testing.T) {
	p, err := composefile.Load(context.Background(), file, exampleEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	env := p.Services["connectors"].Environment
	lookup := func(k string) (string, bool) {
		if v := env[k]; v != nil {
			return *v, true
		}
		return "", false
	}
	bare := regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)
	for _, f := range connect.Files() {
		c, err := connect.Bundled(f, lookup)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if got := c.Config["database.hostname"]; got != "postgres" {
			t.Errorf("%s: database.hostname = %q, want the postgres service", f, got)
		}
		b, _ := os.ReadFile(filepath.Join("../../connect", f))
		for _, m := range bare.FindAllStringSubmatch(string(b), -1) {
			if _, ok := lookup(m[1]); !ok {
				t.Errorf("%s: ${%s} has no default and the connectors job does not set it", f, m[1])
			}
		}
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// No door is open by default: only the gateway publishes a port, every
// password and the JWT settings have no default (the file does not load
// without each of them), .env.example names each, and the gateway runs in
// jwt mode without the development issuer.
func TestComposeFileHasNoOpenDoors(t *testing.T) {
	ctx := context.Background()
	env := exampleEnv(t)
	p, err := composefile.Load(ctx, file, env)
	if err != nil {
		t.Fatalf("load with .env.example filled in: %v", err)
	}
	for name, s := range p.Services {
		if len(s.Ports) > 0 && name != "gateway" {
			t.Errorf("service %s publishes %v; only the gateway may", name, s.Ports)
		}
		for _, pc := range s.Ports {
			if name != "gateway" && pc.HostIP != "127.0.0.1" {
				t.Errorf("service %s publishes port %d beyond 127.0.0.1", name, pc.Target)
			}
		}
	}
	gw := p.Services["gateway"].Environment
	if v := gw["AUTH_MODE"]; v == nil || *v != "jwt" {
		t.Errorf("gateway AUTH_MODE = %v, want jwt", v)
	}
	if v, ok := gw["AUTH_DEV_ISSUER_KEY"]; ok {
		t.Errorf("gateway AUTH_DEV_ISSUER_KEY = %v: the development issuer must stay off", v)
	}

	// Every variable of .env.example is required: without it the file
	// does not load, and the error names it.
	for name := range env {
		t.Run("Without"+name, func(t *testing.T) {
			partial := maps.Clone(env)
			delete(partial, name)
			_, err := composefile.Load(ctx, file, partial)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("load without %s: err = %v, want it named as required", name, err)
			}
		})
	}
	if len(env) < 15 {
		t.Errorf(".env.example names %d variables, want the 7 database, 5 Kafka and the Connect passwords and the 3 JWT settings", len(env))
	}

	// No password reaches a container it is not for: the owners' only the
	// migrate job and postgres, the services' each its own service.
	for _, c := range []struct{ variable, allowed string }{
		{"ORDERS_OWNER_DB_PASSWORD", "migrate,postgres"},
		{"PAYMENTS_OWNER_DB_PASSWORD", "migrate,postgres"},
		{"ORDERS_DB_PASSWORD", "orders,postgres"},
		{"PAYMENTS_DB_PASSWORD", "payments,postgres"},
		{"AUDIT_DB_PASSWORD", "audit,postgres"},
		{"DEBEZIUM_DB_PASSWORD", "postgres"},
		{"POSTGRES_PASSWORD", "postgres"},
		{"CONNECT_PASSWORD", ""},
		{"KAFKA_ADMIN_PASSWORD", "kafka,kafka-auth"},
		{"KAFKA_ORDERS_PASSWORD", "orders,kafka-auth"},
		{"KAFKA_PAYMENTS_PASSWORD", "payments,kafka-auth"},
		{"KAFKA_CONNECT_PASSWORD", "connect,kafka-auth"},
		{"KAFKA_SHOPCTL_PASSWORD", "kafka-auth"},
	} {
		for name, s := range p.Services {
			for k, v := range s.Environment {
				if v != nil && strings.Contains(*v, env[c.variable]) && !slices.Contains(strings.Split(c.allowed, ","), name) {
					t.Errorf("service %s: %s holds %s", name, k, c.variable)
				}
			}
		}
	}
	// The scheduled audit connects to both databases as the audit role,
	// never as a service's.
	for _, v := range []string{"PAYMENTS_DATABASE_URL", "ORDERS_DATABASE_URL"} {
		if u := p.Services["audit"].Environment[v]; u == nil || !strings.Contains(*u, "://shop_audit:") {
			t.Errorf("audit %s = %v, want the shop_audit role", v, u)
		}
	}
	// Connect reads the replication password from its secret file: the
	// connector configs, rendered for the connectors job, hold a reference
	// to a file of the directory its provider may read, not the password.
	cn := p.Services["connectors"].Environment
	for _, f := range connect.Files() {
		c, err := connect.Bundled(f, func(k string) (string, bool) {
			if v := cn[k]; v != nil {
				return *v, true
			}
			return "", false
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := c.Config["database.password"], "${dir:/run/secrets:debezium_db_password}"; got != want {
			t.Errorf("%s: database.password = %q, want %q", f, got, want)
		}
	}
	if v := p.Services["connect"].Environment["CONNECT_CONFIG_PROVIDERS_DIR_PARAM_ALLOWED_PATHS"]; v == nil || *v != "/run/secrets" {
		t.Errorf("connect: the dir provider's allowed paths = %v, want /run/secrets", v)
	}
	// Connect's REST password reaches Connect and the connectors job as a
	// secret file, and nobody else: not the services, whose login could
	// change any connector (docs/security.md).
	wantSecrets := map[string]string{
		"connect":    "connect_password,debezium_db_password",
		"connectors": "connect_password",
	}
	for _, name := range []string{"orders", "payments"} {
		for k := range p.Services[name].Environment {
			if strings.HasPrefix(k, "CONNECT_") {
				t.Errorf("service %s: %s set, want no Kafka Connect setting", name, k)
			}
		}
	}
	for name, s := range p.Services {
		var got []string
		for _, sec := range s.Secrets {
			got = append(got, sec.Source)
		}
		slices.Sort(got)
		if strings.Join(got, ",") != wantSecrets[name] {
			t.Errorf("service %s: secrets %v, want %q", name, got, wantSecrets[name])
		}
	}
	if v := p.Services["connect"].Environment["CONNECT_REST_EXTENSION_CLASSES"]; v == nil || !strings.HasSuffix(*v, ".BasicAuthSecurityRestExtension") {
		t.Errorf("connect: rest extension = %v, want Kafka's BasicAuthSecurityRestExtension", v)
	}
}

// The gateway, the one service with a published port, shares a network
// with the services alone: Postgres, Kafka and Kafka Connect are on a
// network it is not on, and that network has no way out.
func TestComposeNetworksKeepTheGatewayAwayFromTheBackend(t *testing.T) {
	p, err := composefile.Load(context.Background(), file, exampleEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	networks := func(svc string) []string {
		s, ok := p.Services[svc]
		if !ok {
			t.Fatalf("no service %s", svc)
		}
		return slices.Sorted(maps.Keys(s.Networks))
	}
	want := map[string]string{
		"gateway":      "edge",
		"orders":       "backend,edge",
		"payments":     "backend,edge",
		"postgres":     "backend",
		"kafka":        "backend",
		"connect":      "backend",
		"connectors":   "backend",
		"migrate":      "backend",
		"jmx-exporter": "fetch",
		"audit":        "backend",
		"kafka-auth":   "backend",
		"pki":          "", // network_mode: none
	}
	for svc, nets := range want {
		if got := strings.Join(networks(svc), ","); got != nets {
			t.Errorf("service %s: networks %s, want %s", svc, got, nets)
		}
	}
	for name := range p.Services {
		if _, ok := want[name]; !ok {
			t.Errorf("service %s: networks not checked; add it here", name)
		}
	}
	// Whatever the lists say, the gateway shares no network with what
	// holds the data.
	for _, svc := range []string{"postgres", "kafka", "connect", "connectors", "migrate", "audit", "kafka-auth"} {
		for _, n := range networks(svc) {
			if slices.Contains(networks("gateway"), n) {
				t.Errorf("the gateway and %s share network %s", svc, n)
			}
		}
	}
	if n, ok := p.Networks["backend"]; !ok || !n.Internal {
		t.Errorf("network backend = %+v, want internal (no way out)", n)
	}
}
