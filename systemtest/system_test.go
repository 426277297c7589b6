package systemtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	gateway "shop/gateway/app"
	"shop/gateway/httpapi"
	orders "shop/orders/app"
	payments "shop/payments/app"
	"shop/payments/audit"
	schema "shop/sql"
	"shop/stack/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// settleTimeout bounds how long orders may take to leave PENDING. Generous:
// it only matters when something is broken, and the tests run in parallel
// under the race detector on small machines.
const settleTimeout = 2 * time.Minute

// options select how startSystem assembles the system.
type options struct {
	// paymentsBinary, when set, runs the payments service as a separate OS
	// process from this binary (so that a test can SIGKILL it); otherwise
	// payments runs in the test process like the other services.
	paymentsBinary string
}

// system is the whole backend on real infrastructure: both services with
// their own databases, Debezium connectors from their outboxes to fresh
// topics, and the gateway in front.
type system struct {
	env           *stacktest.Env
	ordersDB      *stacktest.Database
	paymentsDB    *stacktest.Database
	ordersTopic   string
	paymentsTopic string
	// base is the gateway's URL; paymentsAddr is the payments gRPC address.
	base         string
	paymentsAddr string
	// payments is the payments process; nil when payments runs in process.
	payments *process
	http     *http.Client
}

// startSystem assembles the system for one test and stops it when the test
// ends: services first, then connectors, topics' databases.
func startSystem(t *testing.T, opts options) *system {
	t.Helper()
	if testing.Short() {
		t.Skip("system test: skipped with -short")
	}
	env := stacktest.Get(t)
	s := &system{
		env:           env,
		ordersDB:      env.NewDatabase(t, schema.Orders),
		paymentsDB:    env.NewDatabase(t, schema.Payments),
		ordersTopic:   env.NewTopic(t, "orders.events"),
		paymentsTopic: env.NewTopic(t, "payments.events"),
		http:          &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
	}
	env.StartConnector(t, s.ordersDB, s.ordersTopic)
	env.StartConnector(t, s.paymentsDB, s.paymentsTopic)
	logger := stacktest.Logger()
	svc := newServices(t)

	paymentsAddr := freeAddr(t)
	s.paymentsAddr = paymentsAddr
	paymentsGroup := stacktest.Unique("payments-")
	if opts.paymentsBinary != "" {
		s.payments = startProcess(t, "payments", opts.paymentsBinary,
			"PAYMENTS_GRPC_ADDR="+paymentsAddr,
			"PAYMENTS_DATABASE_URL="+s.paymentsDB.URL,
			"KAFKA_BROKERS="+strings.Join(env.Brokers, ","),
			"ORDERS_TOPIC="+s.ordersTopic,
			"PAYMENTS_CONSUMER_GROUP="+paymentsGroup,
			"LOG_LEVEL=info",
		)
	} else {
		pcfg := payments.DefaultConfig()
		pcfg.GRPCAddr = paymentsAddr
		pcfg.DatabaseURL = s.paymentsDB.URL
		pcfg.KafkaBrokers = env.Brokers
		pcfg.OrdersTopic = s.ordersTopic
		pcfg.ConsumerGroup = paymentsGroup
		svc.start("payments", func(ctx context.Context) error {
			return payments.Run(ctx, pcfg, logger.With("service", "payments"))
		})
	}

	ocfg := orders.DefaultConfig()
	ocfg.GRPCAddr = "127.0.0.1:0"
	ocfg.DatabaseURL = s.ordersDB.URL
	ocfg.KafkaBrokers = env.Brokers
	ocfg.PaymentsTopic = s.paymentsTopic
	ocfg.ConsumerGroup = stacktest.Unique("orders-")
	ordersAddr := make(chan string, 1)
	ocfg.Ready = func(addr string) { ordersAddr <- addr }
	svc.start("orders", func(ctx context.Context) error {
		return orders.Run(ctx, ocfg, logger.With("service", "orders"))
	})

	gcfg := gateway.DefaultConfig()
	gcfg.HTTPAddr = "127.0.0.1:0"
	gcfg.PaymentsAddr = paymentsAddr
	select {
	case gcfg.OrdersAddr = <-ordersAddr:
	case err := <-svc.errs:
		t.Fatalf("a service failed to start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("orders not ready in 1m")
	}
	s.waitPaymentsServing(t, paymentsAddr, svc.errs)
	gatewayAddr := make(chan net.Addr, 1)
	gcfg.Ready = func(a net.Addr) { gatewayAddr <- a }
	svc.start("gateway", func(ctx context.Context) error {
		return gateway.Run(ctx, gcfg, logger.With("service", "gateway"))
	})
	select {
	case a := <-gatewayAddr:
		s.base = "http://" + a.String()
	case err := <-svc.errs:
		t.Fatalf("a service failed to start: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("gateway not ready in 1m")
	}
	return s
}

// services runs in-process services until the test ends.
type services struct {
	ctx  context.Context
	wg   sync.WaitGroup
	errs chan error
}

func newServices(t *testing.T) *services {
	ctx, cancel := context.WithCancel(context.Background())
	s := &services{ctx: ctx, errs: make(chan error, 8)}
	t.Cleanup(func() {
		cancel()
		stopped := make(chan struct{})
		go func() {
			s.wg.Wait()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Errorf("services not stopped 30s after cancel")
		}
		for {
			select {
			case err := <-s.errs:
				t.Errorf("service stopped with: %v", err)
			default:
				return
			}
		}
	})
	return s
}

// start runs run in a goroutine; an error it returns arrives on s.errs.
func (s *services) start(name string, run func(context.Context) error) {
	s.wg.Go(func() {
		if err := run(s.ctx); err != nil {
			s.errs <- fmt.Errorf("%s: %w", name, err)
		}
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitPaymentsServing waits until the payments gRPC server at addr answers
// its health check, failing early when a service (errs) or the payments
// process stops.
func (s *system) waitPaymentsServing(t *testing.T, addr string, errs <-chan error) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		select {
		case err := <-errs:
			t.Fatalf("a service failed to start: %v", err)
		default:
		}
		if s.payments != nil && s.payments.exited() {
			t.Fatalf("payments process exited: %v", s.payments.waitErr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("payments at %s not serving after 1m: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// --- the payments service as an OS process ---

// buildPayments builds the payments command into a temporary directory.
func buildPayments(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the payments binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "payments")
	out, err := exec.Command(goTool, "build", "-o", bin, "shop/payments/cmd/payments").CombinedOutput()
	if err != nil {
		t.Fatalf("go build shop/payments/cmd/payments: %v\n%s", err, out)
	}
	return bin
}

// process is a service binary run as a child process. Its output goes to a
// log file, shown when the test fails.
type process struct {
	t       *testing.T
	name    string
	binary  string
	environ []string
	logPath string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// startProcess starts binary with the test's environment plus environ, and
// stops it (SIGTERM, then SIGKILL) when the test ends.
func startProcess(t *testing.T, name, binary string, environ ...string) *process {
	t.Helper()
	p := &process{t: t, name: name, binary: binary, environ: environ,
		logPath: filepath.Join(t.TempDir(), name+".log")}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("last lines of the %s log:\n%s", name, tail(p.logPath, 40))
		}
	})
	p.start()
	return p
}

// start (re)starts the process; the previous run must have ended.
func (p *process) start() {
	p.t.Helper()
	log, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(log, "--- start %s ---\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.binary)
	cmd.Env = append(os.Environ(), p.environ...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	p.cmd, p.done, p.waitErr = cmd, make(chan struct{}), nil
	go func() {
		err := cmd.Wait()
		log.Close()
		p.waitErr = err
		close(p.done)
	}()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the process to be gone. It fails the test
// unless the process died of that signal (it was running until then).
func (p *process) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
	var exit *exec.ExitError
	if !errors.As(p.waitErr, &exit) {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by signal", p.name, p.waitErr)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		p.t.Fatalf("%s after SIGKILL: %v, want killed by SIGKILL (it exited before)", p.name, p.waitErr)
	}
}

// stop ends the process gracefully, or kills it after 15 s.
func (p *process) stop() {
	if p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.t.Errorf("%s not stopped 15s after SIGTERM; killing it", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// --- REST ---

// call sends a request to the gateway as user and, when the status is
// want, decodes the JSON body into out (when not nil). Safe for concurrent
// use; it does not touch the testing.T, so goroutines may call it.
func (s *system) call(ctx context.Context, method, path, user, body string, want int, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(httpapi.HeaderUserID, user)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
	}
	if out == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("%s %s: body %s: %w", method, path, b, err)
	}
	return nil
}

// openAccount creates user's account through the gateway and tops it up
// with amount.
func (s *system) openAccount(t *testing.T, user string, amount int64) {
	t.Helper()
	ctx := context.Background()
	if err := s.call(ctx, "POST", "/api/v1/account", user, "", http.StatusCreated, nil); err != nil {
		t.Fatal(err)
	}
	var acc httpapi.Account
	if err := s.call(ctx, "POST", "/api/v1/account/top-up", user, fmt.Sprintf(`{"amount":%d}`, amount), http.StatusOK, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Balance != amount {
		t.Fatalf("balance after top-up of %d = %d", amount, acc.Balance)
	}
}

// createOrder creates an order through the gateway; it must be PENDING.
func (s *system) createOrder(ctx context.Context, user string, amount int64) (httpapi.Order, error) {
	var o httpapi.Order
	if err := s.call(ctx, "POST", "/api/v1/orders", user, fmt.Sprintf(`{"amount":%d,"description":"system test"}`, amount), http.StatusCreated, &o); err != nil {
		return o, err
	}
	if o.Status != "PENDING" || o.Amount != amount || o.UserID != user {
		return o, fmt.Errorf("created order %+v, want PENDING of %d for %s", o, amount, user)
	}
	return o, nil
}

func (s *system) mustCreateOrder(t *testing.T, user string, amount int64) httpapi.Order {
	t.Helper()
	o, err := s.createOrder(context.Background(), user, amount)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// restOrder returns the order as the gateway shows it to user.
func (s *system) restOrder(t *testing.T, user, id string) httpapi.Order {
	t.Helper()
	var o httpapi.Order
	if err := s.call(context.Background(), "GET", "/api/v1/orders/"+id, user, "", http.StatusOK, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// --- databases ---

// orderRow is an order as the orders database holds it.
type orderRow struct {
	ID        string
	UserID    string
	Amount    int64
	Status    string
	Reason    string
	UpdatedAt time.Time
}

// ordersOf returns the orders of the given users.
func (s *system) ordersOf(ctx context.Context, users ...string) ([]orderRow, error) {
	rows, err := s.ordersDB.Pool.Query(ctx, `SELECT id::text, user_id, amount, status, COALESCE(cancel_reason, ''), updated_at
		FROM orders WHERE user_id = ANY($1) ORDER BY created_at, id`, users)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []orderRow
	for rows.Next() {
		var o orderRow
		if err := rows.Scan(&o.ID, &o.UserID, &o.Amount, &o.Status, &o.Reason, &o.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// waitSettled polls the orders database until the users have n orders and
// none is PENDING, and returns them by id.
func (s *system) waitSettled(t *testing.T, n int, users ...string) map[string]orderRow {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		got, err := s.ordersOf(context.Background(), users...)
		if err != nil {
			t.Fatalf("read orders: %v", err)
		}
		pending := 0
		for _, o := range got {
			if o.Status == "PENDING" {
				pending++
			}
		}
		if len(got) == n && pending == 0 {
			out := make(map[string]orderRow, n)
			for _, o := range got {
				out[o.ID] = o
			}
			return out
		}
		if len(got) > n {
			t.Fatalf("%d orders of %v, want %d", len(got), users, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d of %d orders of %v exist, %d still PENDING", settleTimeout, len(got), n, users, pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOrder waits until the order leaves PENDING and returns it.
func (s *system) waitOrder(t *testing.T, o httpapi.Order) orderRow {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		var r orderRow
		err := s.ordersDB.Pool.QueryRow(context.Background(), `SELECT id::text, user_id, amount, status, COALESCE(cancel_reason, ''), updated_at
			FROM orders WHERE id = $1`, o.ID).Scan(&r.ID, &r.UserID, &r.Amount, &r.Status, &r.Reason, &r.UpdatedAt)
		if err != nil {
			t.Fatalf("read order %s: %v", o.ID, err)
		}
		if r.Status != "PENDING" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still PENDING after %s", o.ID, settleTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// balance returns user's balance from the payments database.
func (s *system) balance(t *testing.T, user string) int64 {
	t.Helper()
	var b int64
	if err := s.paymentsDB.Pool.QueryRow(context.Background(), `SELECT balance FROM accounts WHERE user_id = $1`, user).Scan(&b); err != nil {
		t.Fatalf("balance of %s: %v", user, err)
	}
	return b
}

// debits returns user's DEBIT ledger entries: amount by order id, and how
// many rows there are (a map would hide a second row of one order).
func (s *system) debits(t *testing.T, user string) (map[string]int64, int) {
	t.Helper()
	rows, err := s.paymentsDB.Pool.Query(context.Background(), `SELECT order_id::text, amount FROM ledger WHERE user_id = $1 AND kind = 'DEBIT'`, user)
	if err != nil {
		t.Fatalf("ledger of %s: %v", user, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	n := 0
	for rows.Next() {
		var id string
		var amount int64
		if err := rows.Scan(&id, &amount); err != nil {
			t.Fatal(err)
		}
		out[id] += amount
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out, n
}

// ledgerTotals returns sum(credits) and sum(debits) of user.
func (s *system) ledgerTotals(t *testing.T, user string) (credits, debits int64) {
	t.Helper()
	err := s.paymentsDB.Pool.QueryRow(context.Background(), `SELECT
			COALESCE(SUM(amount) FILTER (WHERE kind = 'CREDIT'), 0)::bigint,
			COALESCE(SUM(amount) FILTER (WHERE kind = 'DEBIT'), 0)::bigint
		FROM ledger WHERE user_id = $1`, user).Scan(&credits, &debits)
	if err != nil {
		t.Fatalf("ledger totals of %s: %v", user, err)
	}
	return credits, debits
}

// auditClean runs the consistency check over both databases and fails the
// test on any violation. Call it once every order has settled: a debit of a
// PENDING order (in flight) is then an error too.
func (s *system) auditClean(t *testing.T) audit.Report {
	t.Helper()
	r, err := audit.Check(context.Background(), s.paymentsDB.Pool, s.ordersDB.Pool)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	for _, v := range r.Violations {
		t.Errorf("audit violation: %s", v)
	}
	if r.InFlight != 0 {
		t.Errorf("audit: %d debits of PENDING orders after every order settled", r.InFlight)
	}
	return r
}

// deadLetter is a row of a dead_letters table.
type deadLetter struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Error     string
}

func deadLetters(t *testing.T, db *stacktest.Database) []deadLetter {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT topic, partition, "offset", key, value, error FROM dead_letters ORDER BY topic, partition, "offset"`)
	if err != nil {
		t.Fatalf("dead letters: %v", err)
	}
	defer rows.Close()
	var out []deadLetter
	for rows.Next() {
		var d deadLetter
		if err := rows.Scan(&d.Topic, &d.Partition, &d.Offset, &d.Key, &d.Value, &d.Error); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// inboxHas reports whether the database's inbox holds eventID.
func inboxHas(t *testing.T, db *stacktest.Database, eventID string) bool {
	t.Helper()
	var ok bool
	if err := db.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM inbox WHERE event_id = $1::uuid)`, eventID).Scan(&ok); err != nil {
		t.Fatalf("inbox: %v", err)
	}
	return ok
}

// --- Kafka ---

// produce writes one message to the given partition of topic, as a
// misbehaving or repeating producer would, and returns its offset. The
// partition is explicit because Debezium (Java client, murmur2) and sarama
// (FNV-1a) hash keys to partitions differently.
func (s *system) produce(t *testing.T, topic string, partition int32, key string, value []byte, headers map[string]string) int64 {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	p, err := sarama.NewSyncProducer(s.env.Brokers, cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer p.Close()
	msg := &sarama.ProducerMessage{Topic: topic, Partition: partition, Key: sarama.StringEncoder(key), Value: sarama.ByteEncoder(value)}
	for k, v := range headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	part, off, err := p.SendMessage(msg)
	if err != nil {
		t.Fatalf("produce to %s/%d: %v", topic, partition, err)
	}
	if part != partition {
		t.Fatalf("produced to partition %d, want %d", part, partition)
	}
	return off
}

// findRecord reads topic from the beginning until a record matches and
// returns the first that does.
func (s *system) findRecord(t *testing.T, topic string, match func(stacktest.Record) bool) stacktest.Record {
	t.Helper()
	var found stacktest.Record
	s.env.ReadTopic(t, topic, settleTimeout, func(recs []stacktest.Record) bool {
		for _, r := range recs {
			if match(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// eventFor matches records of event type typ whose JSON value names orderID.
func eventFor(typ, orderID string) func(stacktest.Record) bool {
	return func(r stacktest.Record) bool {
		if headerValue(r.Headers["eventType"]) != typ {
			return false
		}
		var v struct {
			OrderID string `json:"orderId"`
		}
		return json.Unmarshal(r.Value, &v) == nil && v.OrderID == orderID
	}
}

// headerValue unquotes a header value that Kafka Connect's JSON header
// converter would have quoted.
func headerValue(s string) string {
	var u string
	if len(s) >= 2 && s[0] == '"' && json.Unmarshal([]byte(s), &u) == nil {
		return u
	}
	return s
}
