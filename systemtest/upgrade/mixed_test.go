package upgrade

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"shop/audit"
	"shop/bench/load"
	"shop/service"
	schema "shop/sql"
	"shop/stack/local"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// settleTimeout bounds how long the orders of one phase may take to leave
// PENDING once placed. Generous: it only runs out when the versions do not
// understand each other.
const settleTimeout = 90 * time.Second

// startTimeout bounds how long an instance, a consumer group or the gateway
// may take to be ready.
const startTimeout = time.Minute

// The load of one phase: users of three kinds, each placing ordersPerUser
// orders. Rich users can pay for all of theirs, poor users for the first
// few, and users without an account for none.
const (
	richUsers, poorUsers, userless = 6, 6, 4
	ordersPerUser                  = 10
	richFunds                      = 1_000_000
	poorFunds                      = 1_000
	poorAmount                     = 300 // poorFunds pays for 3 of them
	senders                        = 8   // orders in flight at once
)

// instance is one service process of a phase: which version runs it.
type instance struct {
	version string // "old" (the baseline) or "new"
	binary  string
}

// phase is one arrangement of versions: the instances in the orders group
// and in the payments group. The gateway is always the new one.
type phase struct {
	name             string
	orders, payments []instance
}

// TestMixedVersions runs orders through the baseline's services and the
// current ones side by side, on the current schema, in three phases on one
// pair of databases and topics: an old and a new instance in each consumer
// group; new orders with old payments (the new OrderCreated read by old
// consumers); old orders with new payments (new payment results read by old
// consumers). After each phase every order is PAID or CANCELLED as its
// user's money says, the books balance and there is no dead letter.
func TestMixedVersions(t *testing.T) {
	if testing.Short() {
		t.Skip("mixed-version test: skipped with -short")
	}
	commit, old := baselineBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cur, err := local.Build(ctx, "", t.TempDir(), stacktest.Logger(), local.Orders, local.Payments, local.NameGateway)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("old = baseline %s, new = this tree", commit[:12])
	sh := newShop(t, cur[local.NameGateway])
	oldOrders, newOrders := instance{"old", old[local.Orders]}, instance{"new", cur[local.Orders]}
	oldPayments, newPayments := instance{"old", old[local.Payments]}, instance{"new", cur[local.Payments]}
	for i, p := range []phase{
		{"OldAndNewInEachGroup", []instance{oldOrders, newOrders}, []instance{oldPayments, newPayments}},
		{"NewOrdersOldPayments", []instance{newOrders}, []instance{oldPayments}},
		{"OldOrdersNewPayments", []instance{oldOrders}, []instance{newPayments}},
	} {
		// A phase that fails leaves orders and dead letters behind that
		// would fail the next ones too: stop at the first.
		if !t.Run(p.name, func(t *testing.T) { sh.run(t, p, fmt.Sprintf("p%d-", i+1)) }) {
			break
		}
	}
}

// shop is what the phases share: the databases on the current schema, the
// topics, the connectors and the two consumer groups.
type shop struct {
	env                  *stacktest.Env
	gateway              string
	ordersDB, paymentsDB *stacktest.Database
	topics               service.Topics
	connectors, groups   map[string]string // by service
}

func newShop(t *testing.T, gateway string) *shop {
	t.Helper()
	env := stacktest.Get(t)
	sh := &shop{
		env:        env,
		gateway:    gateway,
		ordersDB:   env.NewDatabase(t, schema.Orders),
		paymentsDB: env.NewDatabase(t, schema.Payments),
		topics:     service.Topics{Orders: env.NewTopic(t, "orders.events"), Payments: env.NewTopic(t, "payments.events")},
		groups:     map[string]string{local.Orders: stacktest.Unique("orders-"), local.Payments: stacktest.Unique("payments-")},
	}
	sh.connectors = map[string]string{
		local.Orders:   env.StartConnector(t, sh.ordersDB, sh.topics.Orders),
		local.Payments: env.StartConnector(t, sh.paymentsDB, sh.topics.Payments),
	}
	// The baseline knows no SASL: it reaches Kafka on the PLAINTEXT
	// listener as ANONYMOUS, which may do nothing there until granted. The
	// rollout's transition step (docs/upgrades.md, "Switching Kafka
	// authentication on") grants it what the services read, as here on
	// this test's own topics and groups, and revokes it once every
	// instance runs a release that authenticates.
	env.Grant(t, anonymousReads(sh.topics, sh.groups)...)
	return sh
}

// anonymousReads lets ANONYMOUS read both topics in both groups: what an
// instance of the baseline, which has no credentials, does.
func anonymousReads(topics service.Topics, groups map[string]string) []local.Grant {
	read := []sarama.AclOperation{sarama.AclOperationRead, sarama.AclOperationDescribe}
	return []local.Grant{
		{Principal: local.Anonymous, Resource: local.TopicResource(topics.Orders), Ops: read},
		{Principal: local.Anonymous, Resource: local.TopicResource(topics.Payments), Ops: read},
		{Principal: local.Anonymous, Resource: local.GroupResource(groups[local.Orders]), Ops: read},
		{Principal: local.Anonymous, Resource: local.GroupResource(groups[local.Payments]), Ops: read},
	}
}

// kafka is how an instance of version reaches Kafka as svc: the baseline
// without credentials on the PLAINTEXT listener, the new one as svc's
// principal.
func (sh *shop) kafka(version, svc string) service.Kafka {
	if version == "old" && len(sh.env.PlaintextBrokers) > 0 {
		return service.Kafka{Brokers: sh.env.PlaintextBrokers}
	}
	return sh.env.Kafka(svc)
}

// db is svc's database.
func (sh *shop) db(svc string) *stacktest.Database {
	if svc == local.Orders {
		return sh.ordersDB
	}
	return sh.paymentsDB
}

// run starts the instances of p and the gateway, places the phase's orders
// (users named with prefix) and checks their outcome; the processes stop
// when t ends.
func (sh *shop) run(t *testing.T, p phase, prefix string) {
	addrs := map[string][]string{}
	for _, svc := range []struct {
		name      string
		instances []instance
	}{{local.Orders, p.orders}, {local.Payments, p.payments}} {
		for i, in := range svc.instances {
			addrs[svc.name] = append(addrs[svc.name], sh.startInstance(t, svc.name, fmt.Sprintf("%s-%s-%d", svc.name, in.version, i+1), in))
		}
		sh.waitGroup(t, svc.name, len(svc.instances))
	}
	url := sh.startGateway(t, addrs)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := load.NewClient(url, senders, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sent := sh.place(ctx, t, c, prefix)
	sh.waitSettled(t, prefix, sent)
	sh.checkOutcome(t, prefix, sent)
	sh.checkBooks(ctx, t)
	sh.checkPartitions(t, prefix)
}

// insecureGRPC is the first step of switching gRPC mutual TLS on in a
// rolling upgrade from a release without it: the new release in plaintext,
// explicitly.
const insecureGRPC = "GRPC_INSECURE=true"

// startInstance starts binary as an instance of svc in its consumer group,
// wired as `make run` wires one, and returns its gRPC address once it
// accepts connections.
func (sh *shop) startInstance(t *testing.T, svc, name string, in instance) string {
	t.Helper()
	addr := stacktest.FreeAddr(t)
	db := sh.db(svc)
	// Plaintext gRPC: the baseline has no TLS, and a rolling upgrade
	// starts by running the new release with GRPC_INSECURE=true
	// (docs/upgrades.md, "Switching gRPC mutual TLS on").
	w := local.Wiring{GRPCAddr: addr, AdminAddr: "127.0.0.1:0", DatabaseURL: db.URL,
		Kafka: sh.kafka(in.version, svc), Topics: sh.topics, GRPC: []string{insecureGRPC}}
	v := strings.ToUpper(svc) + "_"
	proc := system.StartProcess(t, name, in.binary, append(w.Environ(svc),
		v+"CONSUMER_GROUP="+sh.groups[svc], v+"SLOT="+db.Name, v+"CONNECTOR="+sh.connectors[svc])...)
	ready := local.TCPReady(addr)
	stacktest.WaitForNil(t, startTimeout, name+" listening on "+addr, func() error {
		if proc.Exited() {
			t.Fatalf("%s exited: %v", name, proc.Err())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return ready(ctx)
	})
	return addr
}

// waitGroup waits until svc's consumer group is stable with n members, so
// that each instance of the phase holds partitions before orders flow.
func (sh *shop) waitGroup(t *testing.T, svc string, n int) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(sh.env.Brokers, sh.env.ClientConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	group := sh.groups[svc]
	stacktest.WaitForNil(t, startTimeout, fmt.Sprintf("consumer group %s stable with %d members (old and new instances must agree on the group protocol)", group, n), func() error {
		gs, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "Stable" || len(gs[0].Members) != n {
			return fmt.Errorf("state %s, %d members", gs[0].State, len(gs[0].Members))
		}
		return nil
	})
}

// startGateway starts the new gateway balancing over addrs and returns its
// base URL once /readyz answers 200.
func (sh *shop) startGateway(t *testing.T, addrs map[string][]string) string {
	t.Helper()
	addr := stacktest.FreeAddr(t)
	proc := system.StartProcess(t, local.NameGateway, sh.gateway, "AUTH_MODE="+service.AuthHeader, insecureGRPC,
		"GATEWAY_HTTP_ADDR="+addr, "GATEWAY_ADMIN_ADDR=127.0.0.1:0",
		"ORDERS_GRPC_ADDR="+strings.Join(addrs[local.Orders], ","), "PAYMENTS_GRPC_ADDR="+strings.Join(addrs[local.Payments], ","))
	url := "http://" + addr
	ready := local.HTTPReady(url + "/readyz")
	stacktest.WaitForNil(t, startTimeout, "gateway ready", func() error {
		if proc.Exited() {
			t.Fatalf("gateway exited: %v", proc.Err())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return ready(ctx)
	})
	return url
}

// user is one customer of a phase.
type user struct {
	id     string
	funds  int64 // 0: no account
	amount func(i int) int64
}

// users returns the phase's customers, their ids starting with prefix.
func users(prefix string) []user {
	var us []user
	for i := range richUsers {
		us = append(us, user{fmt.Sprintf("%srich-%d", prefix, i), richFunds, func(i int) int64 { return int64(100 * (i + 1)) }})
	}
	for i := range poorUsers {
		us = append(us, user{fmt.Sprintf("%spoor-%d", prefix, i), poorFunds, func(int) int64 { return poorAmount }})
	}
	for i := range userless {
		us = append(us, user{fmt.Sprintf("%snone-%d", prefix, i), 0, func(i int) int64 { return int64(10 * (i + 1)) }})
	}
	return us
}

// place opens the accounts of the phase's users and places their orders
// through the gateway, senders at a time, and returns the number placed.
func (sh *shop) place(ctx context.Context, t *testing.T, c *load.Client, prefix string) int {
	t.Helper()
	us := users(prefix)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(senders)
	for _, u := range us {
		if u.funds > 0 {
			g.Go(func() error { return c.OpenAccount(gctx, u.id, u.funds) })
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(senders)
	for i := range ordersPerUser {
		for _, u := range us {
			g.Go(func() error {
				o, err := c.CreateOrder(gctx, u.id, u.amount(i), "mixed-version test")
				if err == nil && o.Status != "PENDING" {
					err = fmt.Errorf("new order %s of %s: status %s, want PENDING", o.ID, u.id, o.Status)
				}
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return len(us) * ordersPerUser
}

// waitSettled waits until none of the sent orders of the phase is PENDING.
func (sh *shop) waitSettled(t *testing.T, prefix string, sent int) {
	t.Helper()
	stacktest.WaitForNil(t, settleTimeout, fmt.Sprintf("the %d orders of the phase to leave PENDING "+
		"(stuck orders mean an old and a new version do not read each other's events; see docs/upgrades.md)", sent), func() error {
		pending := stacktest.Count(t, sh.ordersDB.Pool, "SELECT count(*) FROM orders WHERE status = 'PENDING' AND user_id LIKE $1", prefix+"%")
		if pending == 0 {
			return nil
		}
		return fmt.Errorf("%d of %d still PENDING; %s", pending, sent, sh.deadLetters(t))
	})
}

// deadLetters describes the dead letters of both databases.
func (sh *shop) deadLetters(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, db := range []*stacktest.Database{sh.ordersDB, sh.paymentsDB} {
		rows, err := db.Pool.Query(context.Background(), "SELECT topic, error FROM dead_letters ORDER BY 1, 2")
		if err != nil {
			t.Fatalf("read the dead letters of %s: %v", db.Kind, err)
		}
		var n int
		var first string
		for rows.Next() {
			var topic, msg string
			if err := rows.Scan(&topic, &msg); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				first = fmt.Sprintf(" (first: %s: %s)", topic, msg)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%s: %d dead letters%s", db.Kind, n, first))
	}
	return strings.Join(parts, ", ")
}

// checkOutcome checks every order of the phase against its user's money:
// a rich user's orders are all PAID, an account-less user's all CANCELLED
// with ACCOUNT_NOT_FOUND, a poor user's PAID until the money ran out and
// CANCELLED with INSUFFICIENT_FUNDS after; each account's balance is its
// funds less its PAID orders.
func (sh *shop) checkOutcome(t *testing.T, prefix string, sent int) {
	t.Helper()
	ctx := context.Background()
	rows, err := sh.ordersDB.Pool.Query(ctx, `SELECT user_id, status, coalesce(cancel_reason, ''), amount
		FROM orders WHERE user_id LIKE $1`, prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	type tally struct {
		paid, paidSum int64
		cancelled     map[string]int
	}
	byUser := map[string]*tally{}
	var n int
	for rows.Next() {
		var userID, status, reason string
		var amount int64
		if err := rows.Scan(&userID, &status, &reason, &amount); err != nil {
			t.Fatal(err)
		}
		n++
		tl := byUser[userID]
		if tl == nil {
			tl = &tally{cancelled: map[string]int{}}
			byUser[userID] = tl
		}
		switch status {
		case "PAID":
			tl.paid++
			tl.paidSum += amount
		case "CANCELLED":
			tl.cancelled[reason]++
		default:
			t.Errorf("order of %s: status %s, want PAID or CANCELLED", userID, status)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != sent {
		t.Fatalf("orders of the phase in the database: got %d, want %d", n, sent)
	}
	balances := map[string]int64{}
	rows, err = sh.paymentsDB.Pool.Query(ctx, "SELECT user_id, balance FROM accounts WHERE user_id LIKE $1", prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var userID string
		var balance int64
		if err := rows.Scan(&userID, &balance); err != nil {
			t.Fatal(err)
		}
		balances[userID] = balance
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, u := range users(prefix) {
		tl := byUser[u.id]
		if tl == nil {
			t.Errorf("%s: no orders", u.id)
			continue
		}
		var want string
		switch {
		case u.funds == richFunds && tl.paid != ordersPerUser:
			want = "all PAID"
		case u.funds == poorFunds && (tl.paid != poorFunds/poorAmount || tl.cancelled["INSUFFICIENT_FUNDS"] != ordersPerUser-poorFunds/poorAmount):
			want = fmt.Sprintf("%d PAID, the rest CANCELLED with INSUFFICIENT_FUNDS", poorFunds/poorAmount)
		case u.funds == 0 && tl.cancelled["ACCOUNT_NOT_FOUND"] != ordersPerUser:
			want = "all CANCELLED with ACCOUNT_NOT_FOUND"
		}
		if want != "" {
			t.Errorf("%s: %d PAID, CANCELLED %v; want %s", u.id, tl.paid, tl.cancelled, want)
		}
		if got, ok := balances[u.id]; u.funds > 0 && (!ok || got != u.funds-tl.paidSum) {
			t.Errorf("%s: balance %d (account found: %t), want funds %d - paid %d", u.id, got, ok, u.funds, tl.paidSum)
		}
	}
}

// checkBooks runs the consistency audit over both databases and checks
// that no event became a dead letter.
func (sh *shop) checkBooks(ctx context.Context, t *testing.T) {
	t.Helper()
	r, err := audit.Check(ctx, sh.paymentsDB.Pool, sh.ordersDB.Pool)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Violations {
		t.Errorf("audit: %s", v)
	}
	if r.InFlight != 0 {
		t.Errorf("audit: %d debits of PENDING orders after every order settled", r.InFlight)
	}
	for _, db := range []*stacktest.Database{sh.ordersDB, sh.paymentsDB} {
		if n := stacktest.Count(t, db.Pool, "SELECT count(*) FROM dead_letters"); n != 0 {
			t.Errorf("%s; want none", sh.deadLetters(t))
			return
		}
	}
}

// checkPartitions checks that the phase's events went to every partition of
// both topics: with each group's partitions split between its instances,
// every instance then had events to apply.
func (sh *shop) checkPartitions(t *testing.T, prefix string) {
	t.Helper()
	for _, topic := range []string{sh.topics.Orders, sh.topics.Payments} {
		seen := map[int32]bool{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := stacktest.ReadTopic(ctx, sh.env.Brokers, sh.env.ClientConfig(t), topic, func(recs []stacktest.Record) bool {
			clear(seen)
			for _, r := range recs {
				if strings.HasPrefix(r.Key, prefix) {
					seen[r.Partition] = true
				}
			}
			return len(seen) == 3 // stacktest.NewTopic's partitions
		})
		cancel()
		if err != nil {
			t.Errorf("%s: events of the phase on partitions %v, want all 3 (%v)", topic, slices.Sorted(maps.Keys(seen)), err)
		}
	}
}
