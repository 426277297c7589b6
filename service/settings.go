package service

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The facts several binaries share, each declared once with its default.
// A binary keeps the ones it uses as named fields of its own Config, whose
// Validate calls theirs.

// GatewayEndpoint is where the gateway listens, and where `make run` and
// the benchmark find it.
type GatewayEndpoint struct {
	HTTPAddr string `env:"GATEWAY_HTTP_ADDR, default=127.0.0.1:8080"`
}

// Validate checks that the address is host:port.
func (e GatewayEndpoint) Validate() error { return checkAddr("GATEWAY_HTTP_ADDR", e.HTTPAddr) }

// The gateway's ways of establishing the caller (AUTH_MODE).
const (
	// AuthJWT verifies an Authorization: Bearer JWT; its sub is the user id.
	AuthJWT = "jwt"
	// AuthHeader trusts the X-User-ID header, for a gateway behind an
	// authenticating proxy and for local tests.
	AuthHeader = "header"
)

// AuthMode is how the gateway establishes the caller. The gateway reads it,
// and so does `make run`, which then runs the development issuer in jwt
// mode; the rest of the gateway's identity settings are its own.
type AuthMode struct {
	Mode string `env:"AUTH_MODE, default=jwt"`
}

// Validate checks that the mode is jwt or header.
func (a AuthMode) Validate() error {
	if a.Mode != AuthJWT && a.Mode != AuthHeader {
		return fmt.Errorf("AUTH_MODE=%q: want %q or %q", a.Mode, AuthJWT, AuthHeader)
	}
	return nil
}

// OrdersEndpoint is where the orders service listens and the gateway dials.
// The gateway also takes a comma-separated list of host:port, the
// instances it balances over; a service listens on one address.
type OrdersEndpoint struct {
	GRPCAddr string `env:"ORDERS_GRPC_ADDR, default=127.0.0.1:9101"`
}

// Validate checks that the address is host:port, a gRPC target URI, or a
// list of host:port.
func (e OrdersEndpoint) Validate() error { return checkAddrList("ORDERS_GRPC_ADDR", e.GRPCAddr) }

// ValidateListen checks the address the orders service listens on: one
// host:port, not a list.
func (e OrdersEndpoint) ValidateListen() error {
	return checkListenAddr("ORDERS_GRPC_ADDR", e.GRPCAddr)
}

// PaymentsEndpoint is where the payments service listens and the gateway
// dials; a list as for OrdersEndpoint.
type PaymentsEndpoint struct {
	GRPCAddr string `env:"PAYMENTS_GRPC_ADDR, default=127.0.0.1:9102"`
}

// Validate checks that the address is host:port, a gRPC target URI, or a
// list of host:port.
func (e PaymentsEndpoint) Validate() error { return checkAddrList("PAYMENTS_GRPC_ADDR", e.GRPCAddr) }

// ValidateListen checks the address the payments service listens on: one
// host:port, not a list.
func (e PaymentsEndpoint) ValidateListen() error {
	return checkListenAddr("PAYMENTS_GRPC_ADDR", e.GRPCAddr)
}

// GatewayAdmin is the gateway's admin listener: /metrics and
// /debug/pprof/, never on the public port.
type GatewayAdmin struct {
	Addr string `env:"GATEWAY_ADMIN_ADDR, default=127.0.0.1:9110"`
}

// Validate checks that the address is one host:port.
func (a GatewayAdmin) Validate() error { return checkListenAddr("GATEWAY_ADMIN_ADDR", a.Addr) }

// OrdersAdmin is the orders service's admin listener, as GatewayAdmin is
// the gateway's; with several instances, `make run` gives them consecutive
// ports.
type OrdersAdmin struct {
	Addr string `env:"ORDERS_ADMIN_ADDR, default=127.0.0.1:9111"`
}

// Validate checks that the address is one host:port.
func (a OrdersAdmin) Validate() error { return checkListenAddr("ORDERS_ADMIN_ADDR", a.Addr) }

// PaymentsAdmin is the payments service's admin listener.
type PaymentsAdmin struct {
	Addr string `env:"PAYMENTS_ADMIN_ADDR, default=127.0.0.1:9112"`
}

// Validate checks that the address is one host:port.
func (a PaymentsAdmin) Validate() error { return checkListenAddr("PAYMENTS_ADMIN_ADDR", a.Addr) }

// Kafka is how a client reaches Kafka: the bootstrap broker list and the
// principal it authenticates as (SASL/SCRAM-SHA-512). Every sarama client
// of the shop is configured from it by package shop/cdc/kafkaclient. With
// no username the client speaks PLAINTEXT without authentication: only for
// a broker that still has a PLAINTEXT listener (the rolling upgrade of
// docs/upgrades.md).
type Kafka struct {
	Brokers []string `env:"KAFKA_BROKERS, default=127.0.0.1:9092"`
	// SASLUsername is the principal (orders, payments, shopctl, ...).
	SASLUsername string `env:"KAFKA_SASL_USERNAME"`
	// SASLPasswordFile is a file holding the password (a mounted secret);
	// SASLPassword is the password itself, for compose. One of them goes
	// with SASLUsername.
	SASLPasswordFile string `env:"KAFKA_SASL_PASSWORD_FILE"`
	SASLPassword     Secret `env:"KAFKA_SASL_PASSWORD"`
	// TLSCAFile, when set, turns TLS on to the brokers, verified against
	// the CA certificates (PEM) in this file.
	TLSCAFile string `env:"KAFKA_TLS_CA_FILE"`
}

// Validate checks that there is at least one broker and each is host:port,
// and that a username comes with exactly one source of its password.
func (k Kafka) Validate() error {
	if len(k.Brokers) == 0 {
		return errors.New("KAFKA_BROKERS: no brokers")
	}
	var errs []error
	for _, b := range k.Brokers {
		errs = append(errs, checkAddr("KAFKA_BROKERS", b))
	}
	hasPassword := k.SASLPasswordFile != "" || k.SASLPassword != ""
	switch {
	case k.SASLPasswordFile != "" && k.SASLPassword != "":
		errs = append(errs, errors.New("KAFKA_SASL_PASSWORD_FILE, KAFKA_SASL_PASSWORD: set one, not both"))
	case k.SASLUsername != "" && !hasPassword:
		errs = append(errs, errors.New("KAFKA_SASL_USERNAME: set KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD too"))
	case k.SASLUsername == "" && hasPassword:
		errs = append(errs, errors.New("KAFKA_SASL_PASSWORD_FILE, KAFKA_SASL_PASSWORD: set KAFKA_SASL_USERNAME too"))
	}
	return errors.Join(errs...)
}

// Password returns the SASL password: SASLPassword, or the content of
// SASLPasswordFile read now, without surrounding white space. It returns
// an error naming the file when it cannot be read or is empty.
func (k Kafka) Password() (string, error) {
	if k.SASLPasswordFile == "" {
		return string(k.SASLPassword), nil
	}
	b, err := os.ReadFile(k.SASLPasswordFile)
	if err != nil {
		return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("KAFKA_SASL_PASSWORD_FILE %s: empty", k.SASLPasswordFile)
	}
	return pw, nil
}

// Secret is a value never shown: it prints and logs as [REDACTED].
type Secret string

// String hides the value.
func (s Secret) String() string { return "[REDACTED]" }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Topics are the event topics: the connectors route each service's outbox
// to its topic, the other service consumes it.
type Topics struct {
	Orders   string `env:"ORDERS_TOPIC, default=orders.events"`
	Payments string `env:"PAYMENTS_TOPIC, default=payments.events"`
}

// Validate checks that both topics are named.
func (t Topics) Validate() error {
	if t.Orders == "" || t.Payments == "" {
		return errors.New("ORDERS_TOPIC, PAYMENTS_TOPIC: empty")
	}
	return nil
}

// Connect is Kafka Connect's REST API, which the operator's commands
// (connectctl, shopctl) manage and watch the connectors through, and the
// credentials it asks for (HTTP basic authentication): the password in
// the file PasswordFile (a mounted secret; `make run` writes one under its
// data dir), or, where no file can be mounted, in Password. Without a
// username no credentials are sent. The services do not read it: the login
// may change any connector (docs/security.md).
type Connect struct {
	URL          string `env:"CONNECT_URL, default=http://127.0.0.1:8083"`
	Username     string `env:"CONNECT_USERNAME"`
	PasswordFile string `env:"CONNECT_PASSWORD_FILE"`
	Password     string `env:"CONNECT_PASSWORD"`
}

// Validate checks that the URL is an http(s) URL with a host, and that a
// username comes with exactly one of the password and its file.
func (c Connect) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("CONNECT_URL %q: not an http(s) URL", c.URL)
	}
	switch {
	case c.Username == "" && (c.PasswordFile != "" || c.Password != ""):
		return errors.New("CONNECT_PASSWORD_FILE or CONNECT_PASSWORD set without CONNECT_USERNAME")
	case c.Username != "" && c.PasswordFile == "" && c.Password == "":
		return errors.New("CONNECT_USERNAME set without CONNECT_PASSWORD_FILE or CONNECT_PASSWORD")
	case c.PasswordFile != "" && c.Password != "":
		return errors.New("CONNECT_PASSWORD_FILE and CONNECT_PASSWORD both set: keep one")
	}
	return nil
}

// Credentials returns the username and password to send, reading the
// password file (its first line) when one is named; empty when no username
// is set.
func (c Connect) Credentials() (username, password string, err error) {
	if c.Username == "" || c.PasswordFile == "" {
		return c.Username, c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", "", fmt.Errorf("CONNECT_PASSWORD_FILE: %w", err)
	}
	pw, _, _ := strings.Cut(string(b), "\n")
	if pw = strings.TrimRight(pw, "\r"); pw == "" {
		return "", "", fmt.Errorf("CONNECT_PASSWORD_FILE %s: empty", c.PasswordFile)
	}
	return c.Username, pw, nil
}

// OrdersConnector is the name of the connector publishing the orders
// outbox: the bundled connector config takes the same ORDERS_CONNECTOR.
type OrdersConnector struct {
	Name string `env:"ORDERS_CONNECTOR, default=orders-outbox"`
}

// Validate checks that the name is set.
func (c OrdersConnector) Validate() error { return Required("ORDERS_CONNECTOR", c.Name) }

// PaymentsConnector is the name of the connector publishing the payments
// outbox, as OrdersConnector is of the orders one.
type PaymentsConnector struct {
	Name string `env:"PAYMENTS_CONNECTOR, default=payments-outbox"`
}

// Validate checks that the name is set.
func (c PaymentsConnector) Validate() error { return Required("PAYMENTS_CONNECTOR", c.Name) }

// OrdersSlot is the logical replication slot the orders connector streams
// the orders database from: the connector config names it (slot.name) and
// the orders outbox purge deletes only rows it has confirmed.
type OrdersSlot struct {
	Name string `env:"ORDERS_SLOT, default=orders_outbox"`
}

// Validate checks that the name is one Postgres accepts for a slot.
func (s OrdersSlot) Validate() error { return checkSlot("ORDERS_SLOT", s.Name) }

// PaymentsSlot is the replication slot of the payments connector, as
// OrdersSlot is of the orders one.
type PaymentsSlot struct {
	Name string `env:"PAYMENTS_SLOT, default=payments_outbox"`
}

// Validate checks that the name is one Postgres accepts for a slot.
func (s PaymentsSlot) Validate() error { return checkSlot("PAYMENTS_SLOT", s.Name) }

// slotName is what Postgres accepts as a replication slot name.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

func checkSlot(name, slot string) error {
	if !slotName.MatchString(slot) {
		return fmt.Errorf("%s %q: want 1 to 63 lower case letters, digits or underscores", name, slot)
	}
	return nil
}

// Retention says how long a service keeps what it only needs for a while,
// and how often it purges the rest.
type Retention struct {
	// Outbox: published outbox rows.
	Outbox time.Duration `env:"OUTBOX_RETENTION, default=1h"`
	// IdempotencyKeys: at least 24h (DESIGN.md section 3).
	IdempotencyKeys time.Duration `env:"IDEMPOTENCY_RETENTION, default=24h"`
	// PurgeInterval: how often the purges run.
	PurgeInterval time.Duration `env:"PURGE_INTERVAL, default=5m"`
}

// Validate checks that the durations are positive and idempotency keys are
// kept at least 24 hours.
func (r Retention) Validate() error {
	var errs []error
	if r.Outbox <= 0 || r.PurgeInterval <= 0 {
		errs = append(errs, errors.New("OUTBOX_RETENTION, PURGE_INTERVAL: must be positive"))
	}
	if r.IdempotencyKeys < 24*time.Hour {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_RETENTION %s: keys must be kept at least 24h", r.IdempotencyKeys))
	}
	return errors.Join(errs...)
}

// Consume is how a service's consumer groups the events it applies.
type Consume struct {
	// Linger: how long a consumer transaction that starts less than
	// Linger after the one before, while the consumer's other committer is
	// idle, waits for more events to join it (cdc/inbox, Config.Linger); 0
	// turns the wait off.
	Linger time.Duration `env:"CONSUMER_LINGER, default=3ms"`
}

// MaxLinger bounds a linger setting (CONSUMER_LINGER, ORDERS_CREATE_LINGER):
// the wait is added to the latency of what waits.
const MaxLinger = 100 * time.Millisecond

// CheckLinger reports a linger d of the variable name outside 0 to MaxLinger.
func CheckLinger(name string, d time.Duration) error {
	if d < 0 || d > MaxLinger {
		return fmt.Errorf("%s must be between 0 and %v, got %v", name, MaxLinger, d)
	}
	return nil
}

// Validate checks that the linger is between 0 and MaxLinger.
func (c Consume) Validate() error { return CheckLinger("CONSUMER_LINGER", c.Linger) }

// Process is how a process logs and stops.
type Process struct {
	// LogLevel is the minimum level logged: debug, info, warn or error.
	// Logs are JSON.
	LogLevel slog.Level `env:"LOG_LEVEL, default=info"`
	// ShutdownTimeout bounds the graceful stop of a server; requests still
	// running after it are cancelled.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=10s"`
	// Telemetry false turns off what the process records for operators:
	// request metrics, pipeline metrics and their pollers, and spans (trace
	// context no longer propagates; /metrics keeps the Go and process
	// collectors). It exists to measure what they cost (make
	// bench-telemetry); production keeps the default.
	Telemetry bool `env:"SHOP_TELEMETRY, default=true"`
}

// Validate checks that the shutdown timeout is positive.
func (p Process) Validate() error {
	if p.ShutdownTimeout <= 0 {
		return fmt.Errorf("SHUTDOWN_TIMEOUT %s: must be positive", p.ShutdownTimeout)
	}
	return nil
}

// NewLogger returns the JSON logger of a process, on stderr, at the
// configured level.
func (p Process) NewLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: p.LogLevel}))
}

// DatabaseURL is a postgres:// URL that may hold a password: it is logged
// redacted (LogValue).
type DatabaseURL string

// Validate checks that u is a postgres:// URL; name is its variable.
func (u DatabaseURL) Validate(name string) error {
	p, err := url.Parse(string(u))
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return fmt.Errorf("%s: want a postgres:// URL", name)
	}
	return nil
}

// LogValue hides the password; a URL that does not parse is hidden
// entirely, since it may still hold one.
func (u DatabaseURL) LogValue() slog.Value {
	p, err := url.Parse(string(u))
	if err != nil {
		return slog.StringValue("<unparsable>")
	}
	return slog.StringValue(p.Redacted())
}

// String is the redacted URL, so that printing a Config never shows the
// password.
func (u DatabaseURL) String() string { return u.LogValue().String() }

// checkAddr accepts host:port with a numeric port, or a gRPC target URI
// such as dns:///orders:9101, passed on as is.
func checkAddr(name, addr string) error {
	if strings.Contains(addr, ":///") {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: want host:port: %w", name, addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%s %q: port must be a number from 0 to 65535", name, addr)
	}
	return nil
}

// checkListenAddr accepts one host:port: a server listens on one address.
func checkListenAddr(name, addr string) error {
	if strings.Contains(addr, ",") || strings.Contains(addr, ":///") {
		return fmt.Errorf("%s %q: a service listens on one host:port", name, addr)
	}
	return checkAddr(name, addr)
}

// checkAddrList accepts what checkAddr does, or a comma-separated list of
// host:port (a target URI names its own resolver and cannot be one of
// several).
func checkAddrList(name, list string) error {
	addrs := strings.Split(list, ",")
	if len(addrs) == 1 {
		return checkAddr(name, list)
	}
	var errs []error
	for _, a := range addrs {
		if strings.Contains(a, ":///") {
			errs = append(errs, fmt.Errorf("%s %q: a list takes host:port items, not a target URI", name, a))
			continue
		}
		errs = append(errs, checkAddr(name, a))
	}
	return errors.Join(errs...)
}

// Pipeline is what every service of the event pipeline reads besides its
// own endpoint, database and consumer group. A service's Config embeds it.
type Pipeline struct {
	Kafka     Kafka
	Topics    Topics
	Consume   Consume
	Retention Retention
	Process   Process
}

// Validate reports every invalid piece at once.
func (p Pipeline) Validate() error {
	return errors.Join(p.Kafka.Validate(), p.Topics.Validate(), p.Consume.Validate(), p.Retention.Validate(), p.Process.Validate())
}

// LogAttrs renders p for a service's configuration log line.
func (p Pipeline) LogAttrs() []slog.Attr {
	return []slog.Attr{
		slog.String("kafka_brokers", strings.Join(p.Kafka.Brokers, ",")),
		slog.String("orders_topic", p.Topics.Orders),
		slog.String("payments_topic", p.Topics.Payments),
		slog.Duration("consumer_linger", p.Consume.Linger),
		slog.Duration("outbox_retention", p.Retention.Outbox),
		slog.Duration("idempotency_retention", p.Retention.IdempotencyKeys),
		slog.Duration("purge_interval", p.Retention.PurgeInterval),
		slog.String("log_level", p.Process.LogLevel.String()),
		slog.Duration("shutdown_timeout", p.Process.ShutdownTimeout),
	}
}

// Required reports an empty value of the variable name as an error.
func Required(name, value string) error {
	if value == "" {
		return fmt.Errorf("%s: empty", name)
	}
	return nil
}
