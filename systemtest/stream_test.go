package systemtest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	gateway "shop/gateway/app"
	"shop/gateway/httpapi"
	"shop/gateway/sse"
	"shop/service"
	"shop/stack/local"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

// --- a gateway of the test's own, to restart and to configure ---

// ownGateway is a gateway in front of the system's services that the test
// starts and stops itself.
type ownGateway struct {
	URL  string
	stop func() error // cancels Run and returns what it returned
}

// startGateway runs a gateway over s's orders and payments with the
// stream options of cfg; it is stopped when the test ends, if not before.
func startGateway(t *testing.T, s *shop, stream gateway.Stream) *ownGateway {
	t.Helper()
	return startGatewayWith(t, s, func(cfg *gateway.Config) {
		cfg.Auth.Mode = service.AuthHeader
		cfg.Stream = stream
	})
}

// startGatewayWith runs a gateway of this test's own in front of s's
// services, in header mode unless configure says otherwise; it stops when
// the test ends.
func startGatewayWith(t *testing.T, s *shop, configure func(*gateway.Config)) *ownGateway {
	t.Helper()
	cfg := gateway.DefaultConfig()
	cfg.GRPC.Files = s.GRPCFiles(local.NameGateway)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Orders = service.OrdersEndpoint{GRPCAddr: s.OrdersAddr}
	cfg.Payments = service.PaymentsEndpoint{GRPCAddr: s.PaymentsAddr}
	cfg.Auth.Mode = service.AuthHeader
	configure(&cfg)
	ready := make(chan net.Addr, 1)
	cfg.Ready = func(a net.Addr) { ready <- a }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gateway.Run(ctx, cfg, stacktest.Logger().With("service", "own-gateway")) }()
	g := &ownGateway{}
	var once sync.Once
	var runErr error
	g.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(30 * time.Second):
				runErr = errors.New("gateway did not stop within 30s")
			}
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("own gateway: %v", err)
		}
	})
	select {
	case a := <-ready:
		g.URL = "http://" + a.String()
	case err := <-done:
		t.Fatalf("own gateway: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("own gateway not ready in a minute")
	}
	return g
}

func streamConfig() gateway.Stream {
	s := gateway.DefaultConfig().Stream
	s.Heartbeat = 200 * time.Millisecond
	return s
}

// --- an SSE client ---

// sseStream reads one event stream into frames until it ends; err is
// set (io.EOF: a clean end) before frames is closed.
type sseStream struct {
	frames chan sse.Frame
	err    error
	close  func()
}

// openStream opens GET /api/v1/orders/stream on baseURL as user with the
// extra headers, and fails the test unless the answer is 200
// text/event-stream.
func openStream(t *testing.T, baseURL, user, query string, header map[string]string) *sseStream {
	t.Helper()
	resp, cancel := getStream(t, baseURL, user, query, header)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("stream of %s: status %d, body %s", user, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	s := readStream(resp.Body)
	s.close = cancel
	t.Cleanup(cancel)
	return s
}

// readStream reads the event stream of body into frames in the background.
func readStream(body io.ReadCloser) *sseStream {
	s := &sseStream{frames: make(chan sse.Frame, 1024)}
	go func() {
		defer close(s.frames)
		defer body.Close()
		r := sse.NewReader(body)
		for {
			f, err := r.Next()
			if err != nil {
				s.err = err
				return
			}
			s.frames <- f
		}
	}()
	return s
}

func getStream(t *testing.T, baseURL, user, query string, header map[string]string) (*http.Response, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", baseURL+"/api/v1/orders/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(httpapi.HeaderUserID, user)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open stream of %s: %v", user, err)
	}
	return resp, func() { cancel(); resp.Body.Close() }
}

// change is an order event of a stream.
type change struct {
	seq   int64
	order httpapi.Order
}

// next returns the next order event, skipping comments and frames without
// data; ok is false when the stream ended first.
func (s *sseStream) next(t *testing.T, timeout time.Duration) (c change, ok bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, open := <-s.frames:
			if !open {
				return change{}, false
			}
			if !f.HasData {
				continue
			}
			if f.Event != "order" {
				t.Fatalf("event %q, want order", f.Event)
			}
			seq, err := strconv.ParseInt(f.ID, 10, 64)
			if err != nil {
				t.Fatalf("event id %q: %v", f.ID, err)
			}
			dec := json.NewDecoder(strings.NewReader(f.Data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c.order); err != nil {
				t.Fatalf("event data %s: %v", f.Data, err)
			}
			c.seq = seq
			return c, true
		case <-deadline:
			t.Fatalf("no event within %s", timeout)
		}
	}
}

// first returns the stream's first frame, which must carry retry and the
// id it starts after.
func (s *sseStream) first(t *testing.T) sse.Frame {
	t.Helper()
	select {
	case f := <-s.frames:
		if !f.HasRetry {
			t.Fatalf("first frame %+v has no retry", f)
		}
		if f.HasID {
			return f
		}
		g := <-s.frames
		if !g.HasID || g.HasData {
			t.Fatalf("second frame %+v: want an id without data", g)
		}
		return g
	case <-time.After(30 * time.Second):
		t.Fatal("no first frame within 30s")
	}
	return sse.Frame{}
}

// --- the tests ---

// The stream resumes exactly with Last-Event-ID, across a restart of the
// gateway, while orders are being created and paid or cancelled: every
// change once, in number order, and the changes of another user never.
func TestStreamResumesAcrossGatewayRestartWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	// alice's 14 orders and their 14 reads go within seconds: more than a
	// shopper sends, so no rate limit.
	s := startShop(t, system.Options{RateLimit: system.NoRateLimit})
	s.openAccount(t, "alice", 10_000)
	s.openAccount(t, "bob", 10_000)
	g1 := startGateway(t, s, streamConfig())

	alice := openStream(t, g1.URL, "alice", "", nil)
	if f := alice.first(t); f.ID != "0" {
		t.Fatalf("a new user's stream starts after %q, want 0", f.ID)
	}
	bob := openStream(t, g1.URL, "bob", "", nil)
	bob.first(t)

	// Alice's orders: 7 000 of 10 000 pays for seven orders of 1 000, the
	// rest are cancelled; each order makes two changes.
	const n = 14
	created := make(chan error, 1)
	go func() {
		for i := range n {
			if _, err := s.createOrder(context.Background(), "alice", 1_000+int64(i%2)); err != nil {
				created <- err
				return
			}
			if i%5 == 0 {
				if _, err := s.createOrder(context.Background(), "bob", 10); err != nil {
					created <- err
					return
				}
			}
			time.Sleep(50 * time.Millisecond) // spread the changes over the restart
		}
		created <- nil
	}()

	var got []change
	for len(got) < 6 {
		c, ok := alice.next(t, settleTimeout)
		if !ok {
			t.Fatalf("alice's stream ended: %v", alice.err)
		}
		got = append(got, c)
	}
	// The gateway stops: the stream ends cleanly, and the drain does not
	// wait for it.
	if err := g1.stop(); err != nil {
		t.Fatalf("gateway stop: %v", err)
	}
	for {
		c, ok := alice.next(t, 30*time.Second)
		if !ok {
			break
		}
		got = append(got, c)
	}
	if !errors.Is(alice.err, io.EOF) {
		t.Errorf("alice's stream ended with %v, want a clean end (EOF)", alice.err)
	}
	bobSeen := 0
	for {
		c, ok := bob.next(t, 30*time.Second)
		if !ok {
			break
		}
		if bobSeen++; c.order.UserID != "bob" || c.seq != int64(bobSeen) {
			t.Errorf("bob's stream: change %d %+v, want bob's change %d", c.seq, c.order, bobSeen)
		}
	}

	g2 := startGateway(t, s, streamConfig())
	last := got[len(got)-1].seq
	alice2 := openStream(t, g2.URL, "alice", "?last_event_id=0", map[string]string{httpapi.HeaderLastEventID: strconv.FormatInt(last, 10)})
	if f := alice2.first(t); f.ID != strconv.FormatInt(last, 10) {
		t.Errorf("resumed stream starts after %q, want %d", f.ID, last)
	}
	for len(got) < 2*n {
		c, ok := alice2.next(t, settleTimeout)
		if !ok {
			t.Fatalf("resumed stream ended: %v", alice2.err)
		}
		got = append(got, c)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	checkChanges(t, "alice", got, n)

	// The query parameter resumes too: from 1, every later change again.
	replay := openStream(t, g2.URL, "bob", "", nil)
	replay.first(t)
	all := openStream(t, g2.URL, "alice", "?last_event_id=1", nil)
	all.first(t)
	var again []change
	for len(again) < 2*n-1 {
		c, ok := all.next(t, 30*time.Second)
		if !ok {
			t.Fatalf("replay ended: %v", all.err)
		}
		again = append(again, c)
	}
	for i := range again {
		if again[i].seq != got[i+1].seq || again[i].order != got[i+1].order {
			t.Errorf("replayed change %d = %+v, live %+v", i+1, again[i], got[i+1])
		}
	}
	// The final states are those of the REST API.
	final := map[string]httpapi.Order{}
	for _, c := range got {
		final[c.order.ID] = c.order
	}
	for id, o := range final {
		if rest := s.restOrder(t, "alice", id); rest != o {
			t.Errorf("REST shows %+v, the stream's last change %+v", rest, o)
		}
	}
	// From 0 (the whole history) is a reset: the current state instead.
	checkReset(t, openStream(t, g2.URL, "alice", "?last_event_id=0", nil), 2*n, final)
	select {
	case c := <-replay.frames:
		if c.HasData {
			t.Errorf("bob's stream got %+v after alice's changes", c)
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// checkReset checks that st starts after change latest with the event
// reset, whose data is the current state of the orders: final.
func checkReset(t *testing.T, st *sseStream, latest int64, final map[string]httpapi.Order) {
	t.Helper()
	if f := st.first(t); f.ID != strconv.FormatInt(latest, 10) {
		t.Errorf("reset stream starts after %q, want %d", f.ID, latest)
	}
	var f sse.Frame
	for !f.HasData {
		select {
		case f = <-st.frames:
		case <-time.After(30 * time.Second):
			t.Fatal("no reset event within 30s")
		}
	}
	if f.Event != "reset" || f.ID != strconv.FormatInt(latest, 10) {
		t.Fatalf("event %q id %q, want reset %d", f.Event, f.ID, latest)
	}
	var list httpapi.OrderList
	dec := json.NewDecoder(strings.NewReader(f.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		t.Fatalf("reset data %s: %v", f.Data, err)
	}
	got := map[string]httpapi.Order{}
	for _, o := range list.Orders {
		got[o.ID] = o
	}
	if diff := cmp.Diff(final, got); diff != "" {
		t.Errorf("reset's orders (-want +got):\n%s", diff)
	}
}

// checkChanges checks that got are changes 1, 2, ... of user's n orders:
// each order once PENDING, then once PAID or CANCELLED.
func checkChanges(t *testing.T, user string, got []change, n int) {
	t.Helper()
	seen := map[string][]string{}
	for i, c := range got {
		if c.seq != int64(i+1) {
			t.Fatalf("change %d has number %d; numbers %v", i, c.seq, seqs(got))
		}
		if c.order.UserID != user {
			t.Fatalf("%s's stream has an order of %s: %+v", user, c.order.UserID, c.order)
		}
		seen[c.order.ID] = append(seen[c.order.ID], c.order.Status)
	}
	if len(seen) != n {
		t.Errorf("%d orders in the stream, want %d", len(seen), n)
	}
	for id, st := range seen {
		if len(st) != 2 || st[0] != "PENDING" || (st[1] != "PAID" && st[1] != "CANCELLED") {
			t.Errorf("order %s went %v, want PENDING then PAID or CANCELLED", id, st)
		}
	}
}

func seqs(cs []change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.seq
	}
	return out
}

// One identity may hold MaxPerUser streams on a gateway; one more ends
// the identity's oldest (cleanly: the last chunk, as at the end of a
// response), other identities are not affected. The gateway holds at most
// Max streams: one more is 503 with Retry-After, and a closed stream frees
// its slot. An idle stream gets the keep-alive comment.
func TestStreamEvictsTheOldestAndCapsTheProcess(t *testing.T) {
	t.Parallel()
	s := startShop(t, system.Options{})
	cfg := streamConfig()
	cfg.MaxPerUser = 2
	cfg.Max = 3
	g := startGateway(t, s, cfg)

	a1 := openStream(t, g.URL, "alice", "", nil)
	a1.first(t)
	a2 := openStream(t, g.URL, "alice", "", nil)
	openStream(t, g.URL, "alice", "", nil)
	stacktest.WaitFor(t, 30*time.Second, "the oldest stream of alice ended", func() bool {
		select {
		case _, ok := <-a1.frames:
			return !ok
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	if !errors.Is(a1.err, io.EOF) {
		t.Errorf("evicted stream ended with %v, want a clean end (EOF)", a1.err)
	}
	b1 := openStream(t, g.URL, "bob", "", nil)
	resp, cancel := getStream(t, g.URL, "carol", "", nil)
	var body httpapi.ErrorResponse
	err := json.NewDecoder(resp.Body).Decode(&body)
	cancel()
	if resp.StatusCode != http.StatusServiceUnavailable || err != nil || body.Error.Code != httpapi.CodeUnavailable ||
		resp.Header.Get("Retry-After") == "" {
		t.Errorf("stream over the gateway's cap: %d %+v (%v), Retry-After %q; want 503 UNAVAILABLE with Retry-After",
			resp.StatusCode, body, err, resp.Header.Get("Retry-After"))
	}

	stacktest.WaitFor(t, 30*time.Second, "a keep-alive comment", func() bool {
		select {
		case f, ok := <-a2.frames:
			if !ok {
				t.Fatalf("stream ended: %v", a2.err)
			}
			return slices.Contains(f.Comments, "keep-alive")
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	b1.close()
	stacktest.WaitForNil(t, 30*time.Second, "a slot freed by the closed stream", func() error {
		resp, cancel := getStream(t, g.URL, "carol", "", nil)
		defer cancel()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	for _, bad := range []string{"-1", "x", "1.5"} {
		resp, cancel := getStream(t, g.URL, "carol", "", map[string]string{httpapi.HeaderLastEventID: bad})
		cancel()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: status %d, want 400", bad, resp.StatusCode)
		}
	}
}

// A client that stops reading is dropped once a write to it has waited
// the write timeout; another stream of the same user gets every change
// meanwhile.
func TestStreamDropsASlowClient(t *testing.T) {
	// Not parallel: shop_gateway_streams_dropped_total is a counter of this
	// process's default registry, which the gateways of parallel tests
	// share; a drop of theirs would end the loop below early (seen in CI).
	// A test that is not parallel never runs beside the parallel ones.
	s := startShop(t, system.Options{})
	cfg := streamConfig()
	cfg.WriteTimeout = 500 * time.Millisecond
	g := startGateway(t, s, cfg)
	dropped := func() float64 { return counterValue(t, "shop_gateway_streams_dropped_total") }
	before := dropped()

	fast := openStream(t, g.URL, "alice", "", nil)
	fast.first(t)
	slow := dialSlowStream(t, g.URL, "alice")

	// Orders with long descriptions straight into the database, a round
	// at a time, until the slow client's buffers are full and it is
	// dropped. The trigger numbers them as any order; the round announces
	// its last one after the commit, as CreateOrder does, and the watcher
	// reads the others from the log.
	ctx := context.Background()
	total := 0
	for round := 0; dropped() == before; round++ {
		if round == 40 {
			t.Fatal("the slow client was not dropped after 40 rounds")
		}
		var announce string
		err := pgx.BeginFunc(ctx, s.OrdersDB.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO orders
				(id, user_id, amount, currency, description, status, created_at, updated_at)
				SELECT gen_random_uuid(), 'alice', 100, 'RUB', repeat('x', 1000), 'PENDING', now(), now()
				FROM generate_series(1, 500)`); err != nil {
				return err
			}
			return tx.QueryRow(ctx, `SELECT current_setting('shop.order_change')`).Scan(&announce)
		})
		if err == nil {
			_, err = s.OrdersDB.Pool.Exec(ctx, `SELECT pg_notify('order_changes', $1)`, announce)
		}
		if err != nil {
			t.Fatal(err)
		}
		total += 500
		for want := total - 499; want <= total; want++ {
			c, ok := fast.next(t, time.Minute)
			if !ok {
				t.Fatalf("the fast stream ended: %v", fast.err)
			}
			if c.seq != int64(want) {
				t.Fatalf("fast stream: change %d, want %d", c.seq, want)
			}
		}
	}
	// The slow client's connection is closed: what it reads now ends
	// before the last change (the kernel still delivers what the gateway
	// had written before it dropped the client). Counted in whole events:
	// an event is about 1,125 bytes, so a count of bytes would mistake a
	// client dropped near the end for one that read everything.
	if err := slow.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil {
		t.Fatalf("the slow client's answer: %v", err)
	}
	stream := readStream(resp.Body)
	last := int64(-1)
	for {
		c, ok := stream.next(t, time.Minute)
		if !ok {
			break
		}
		last = c.seq
	}
	t.Logf("the slow client read changes up to %d of %d", last, total)
	if last >= int64(total) {
		t.Errorf("the slow client read every change, up to %d of %d: it was not dropped", last, total)
	}
}

// dialSlowStream opens a stream over a connection with a small receive
// buffer and never reads it until the caller does.
func dialSlowStream(t *testing.T, baseURL, user string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}}
	host := strings.TrimPrefix(baseURL, "http://")
	conn, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/v1/orders/stream HTTP/1.1\r\nHost: %s\r\n%s: %s\r\n\r\n", host, httpapi.HeaderUserID, user)
	return conn
}

// counterValue reads a counter of this process's default registry.
func counterValue(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
