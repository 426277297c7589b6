package composefile_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"shop/connect"
	"shop/stack/composefile"
)

const file = "../../docker-compose.yml"

// The variables each service's code reads (see docs/CONTRACTS.md and each
// app.Config): the file must set them, since the code's defaults point at
// 127.0.0.1 and containers reach each other by service name.
var wantEnv = map[string][]string{
	"orders":     {"ORDERS_GRPC_ADDR", "ORDERS_ADMIN_ADDR", "ORDERS_DATABASE_URL", "KAFKA_BROKERS", "PAYMENTS_TOPIC", "ORDERS_CONSUMER_GROUP"},
	"payments":   {"PAYMENTS_GRPC_ADDR", "PAYMENTS_ADMIN_ADDR", "PAYMENTS_DATABASE_URL", "KAFKA_BROKERS", "ORDERS_TOPIC", "PAYMENTS_CONSUMER_GROUP"},
	"gateway":    {"GATEWAY_HTTP_ADDR", "GATEWAY_ADMIN_ADDR", "ORDERS_GRPC_ADDR", "PAYMENTS_GRPC_ADDR", "GATEWAY_BACKEND_TIMEOUT"},
	"connectors": {"CONNECT_URL", "CONNECT_DB_HOST", "CONNECT_DB_PORT", "CONNECT_DB_USER", "CONNECT_DB_PASSWORD", "ORDERS_TOPIC", "PAYMENTS_TOPIC"},
	"postgres":   {"POSTGRES_PASSWORD", "SHOP_DB_PASSWORD", "DEBEZIUM_DB_PASSWORD"},
	"connect":    {"KAFKA_OPTS", "BOOTSTRAP_SERVERS", "GROUP_ID", "CONFIG_STORAGE_TOPIC", "OFFSET_STORAGE_TOPIC", "STATUS_STORAGE_TOPIC"},
}

// The published ports of DESIGN.md section 7.
var wantPorts = map[string]uint32{"gateway": 8080, "connect": 8083, "kafka": 9092, "postgres": 5432}

func TestComposeFileDescribesTheSystem(t *testing.T) {
	p, err := composefile.Load(context.Background(), file, nil)
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	var names []string
	for n := range p.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	if got, want := strings.Join(names, ","), "connect,connectors,gateway,jmx-exporter,kafka,orders,payments,postgres"; got != want {
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
	for _, svc := range []string{"orders", "payments", "gateway", "connectors"} {
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
	p, err := composefile.Load(context.Background(), file, nil)
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
