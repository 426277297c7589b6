package fullstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"shop/gateway/httpapi"
	"shop/stack/stacktest"
	"shop/systemtest/system"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// shop is the whole backend (system.Start: both services, their databases
// and connectors, and this gateway in front, in this process), driven
// through the gateway's REST API.
type shop struct {
	*system.System
}

func startShop(t *testing.T) *shop {
	t.Helper()
	// waitFinal polls the gateway every 20 ms as one user: faster than a
	// shopper, so no rate limit.
	return &shop{System: system.Start(t, system.Options{RateLimit: system.NoRateLimit})}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *shop) call(t *testing.T, method, path, user, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set(httpapi.HeaderUserID, user)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get(httpapi.HeaderRequestID) == "" {
		t.Errorf("%s %s: no %s", method, path, httpapi.HeaderRequestID)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (r response) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if code == "" {
		return
	}
	var e httpapi.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" {
		t.Errorf("body %s, want error code %s with a message", r.body, code)
	}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return v
}

func TestFullStack(t *testing.T) {
	s := startShop(t)
	user := stacktest.Unique("u")

	s.call(t, "GET", "/readyz", "", "").want(t, 200, "")

	t.Run("Account", func(t *testing.T) {
		s.call(t, "GET", "/api/v1/account", user, "").want(t, 404, httpapi.CodeNotFound)
		created := s.call(t, "POST", "/api/v1/account", user, "")
		created.want(t, 201, "")
		acc := decode[httpapi.Account](t, created)
		if acc.UserID != user || acc.Balance != 0 || acc.Currency != "RUB" || acc.CreatedAt.Location() != time.UTC || acc.CreatedAt.IsZero() {
			t.Errorf("created account %+v", acc)
		}
		s.call(t, "POST", "/api/v1/account", user, "").want(t, 409, httpapi.CodeAccountExists)
		got := decode[httpapi.Account](t, s.call(t, "GET", "/api/v1/account", user, ""))
		if diff := cmp.Diff(acc, got); diff != "" {
			t.Errorf("GET account (-created +got):\n%s", diff)
		}
	})

	t.Run("TopUp", func(t *testing.T) {
		first := s.call(t, "POST", "/api/v1/account/top-up", user, `{"amount":100000}`, httpapi.HeaderIdempotencyKey, "t1")
		first.want(t, 200, "")
		if got := decode[httpapi.Account](t, first).Balance; got != 100000 {
			t.Errorf("balance = %d, want 100000", got)
		}
		replay := s.call(t, "POST", "/api/v1/account/top-up", user, `{"amount": 100000}`, httpapi.HeaderIdempotencyKey, "t1")
		if replay.status != first.status || !bytes.Equal(replay.body, first.body) {
			t.Errorf("replay = %d %s, want %d %s", replay.status, replay.body, first.status, first.body)
		}
		s.call(t, "POST", "/api/v1/account/top-up", user, `{"amount":5}`, httpapi.HeaderIdempotencyKey, "t1").want(t, 422, httpapi.CodeIdempotencyKeyReused)
		if got := decode[httpapi.Account](t, s.call(t, "GET", "/api/v1/account", user, "")).Balance; got != 100000 {
			t.Errorf("balance after replay = %d, want 100000", got)
		}
		for _, body := range []string{`{"amount":0}`, `{"amount":-1}`, `{"amount":1000000000001}`, `{"amount":1.5}`, `{"amount":"1"}`, `{"amount":1e3}`, `{}`, `{"amount":1,"x":1}`, `{`} {
			s.call(t, "POST", "/api/v1/account/top-up", user, body).want(t, 400, httpapi.CodeInvalidArgument)
		}
		s.call(t, "POST", "/api/v1/account/top-up", stacktest.Unique("nobody"), `{"amount":1}`).want(t, 404, httpapi.CodeNotFound)
		s.call(t, "POST", "/api/v1/account/top-up", user, `{"amount":1,"pad":"`+strings.Repeat("x", 70000)+`"}`).want(t, 413, httpapi.CodePayloadTooLarge)
	})

	t.Run("BalanceLimit", func(t *testing.T) {
		rich := stacktest.Unique("rich")
		s.call(t, "POST", "/api/v1/account", rich, "").want(t, 201, "")
		// Bring the balance near the cap through the ledger, as a million
		// top-ups of the largest amount would.
		const near = 1_000_000_000_000_000 - 10
		ctx := context.Background()
		if _, err := s.PaymentsDB.Pool.Exec(ctx, `INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ($1, 'CREDIT', $2, now())`, rich, int64(near)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PaymentsDB.Pool.Exec(ctx, `UPDATE accounts SET balance = balance + $2 WHERE user_id = $1`, rich, int64(near)); err != nil {
			t.Fatal(err)
		}
		s.call(t, "POST", "/api/v1/account/top-up", rich, `{"amount":11}`).want(t, 422, httpapi.CodeBalanceLimitExceeded)
		s.call(t, "POST", "/api/v1/account/top-up", rich, `{"amount":10}`).want(t, 200, "")
	})

	t.Run("Orders", func(t *testing.T) {
		created := s.call(t, "POST", "/api/v1/orders", user, `{"amount":40000,"description":"coffee"}`, httpapi.HeaderIdempotencyKey, "o1")
		created.want(t, 201, "")
		order := decode[httpapi.Order](t, created)
		if order.Status != "PENDING" || order.Amount != 40000 || order.Currency != "RUB" || order.UserID != user || order.Description != "coffee" {
			t.Errorf("created order %+v", order)
		}
		if got, want := created.header.Get("Location"), "/api/v1/orders/"+order.ID; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		replay := s.call(t, "POST", "/api/v1/orders", user, `{"amount":40000,"description":"coffee"}`, httpapi.HeaderIdempotencyKey, "o1")
		if replay.status != 201 || !bytes.Equal(replay.body, created.body) {
			t.Errorf("replay = %d %s, want 201 %s", replay.status, replay.body, created.body)
		}
		s.call(t, "POST", "/api/v1/orders", user, `{"amount":40001,"description":"coffee"}`, httpapi.HeaderIdempotencyKey, "o1").want(t, 422, httpapi.CodeIdempotencyKeyReused)

		paid := waitFinal(t, s, user, order.ID)
		if paid.Status != "PAID" || paid.CancelReason != "" {
			t.Errorf("order with enough money: %s/%s, want PAID", paid.Status, paid.CancelReason)
		}
		if got := decode[httpapi.Account](t, s.call(t, "GET", "/api/v1/account", user, "")).Balance; got != 60000 {
			t.Errorf("balance after paying 40000 of 100000 = %d, want 60000 (debited once)", got)
		}

		poor := decode[httpapi.Order](t, s.call(t, "POST", "/api/v1/orders", user, `{"amount":60001}`))
		if got := waitFinal(t, s, user, poor.ID); got.Status != "CANCELLED" || got.CancelReason != "INSUFFICIENT_FUNDS" {
			t.Errorf("order over the balance: %s/%s, want CANCELLED/INSUFFICIENT_FUNDS", got.Status, got.CancelReason)
		}
		stranger := stacktest.Unique("stranger")
		orphan := decode[httpapi.Order](t, s.call(t, "POST", "/api/v1/orders", stranger, `{"amount":1}`))
		if got := waitFinal(t, s, stranger, orphan.ID); got.Status != "CANCELLED" || got.CancelReason != "ACCOUNT_NOT_FOUND" {
			t.Errorf("order without account: %s/%s, want CANCELLED/ACCOUNT_NOT_FOUND", got.Status, got.CancelReason)
		}

		s.call(t, "GET", "/api/v1/orders/"+order.ID, stranger, "").want(t, 404, httpapi.CodeNotFound)
		s.call(t, "GET", "/api/v1/orders/00000000-0000-4000-8000-000000000000", user, "").want(t, 404, httpapi.CodeNotFound)
		s.call(t, "GET", "/api/v1/orders/not-a-uuid", user, "").want(t, 400, httpapi.CodeInvalidArgument)
		for _, body := range []string{`{"amount":0}`, `{"amount":1000000000001}`, `{"amount":1,"description":"` + strings.Repeat("d", 1001) + `"}`, `{"amount":1.0}`, `{"amount":1,"status":"PAID"}`} {
			s.call(t, "POST", "/api/v1/orders", user, body).want(t, 400, httpapi.CodeInvalidArgument)
		}
		s.call(t, "POST", "/api/v1/orders", user, `{"amount":1,"description":"`+strings.Repeat("d", 1000)+`"}`).want(t, 201, "")
		s.call(t, "POST", "/api/v1/orders", "", `{"amount":1}`).want(t, 401, httpapi.CodeUnauthenticated)
	})

	t.Run("List", func(t *testing.T) {
		lister := stacktest.Unique("lister")
		var want []string
		for range 5 {
			o := decode[httpapi.Order](t, s.call(t, "POST", "/api/v1/orders", lister, `{"amount":7}`))
			want = append([]string{o.ID}, want...) // newest first
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			path := "/api/v1/orders?limit=2"
			if token != "" {
				path += "&page_token=" + token
			}
			r := s.call(t, "GET", path, lister, "")
			r.want(t, 200, "")
			page := decode[httpapi.OrderList](t, r)
			for _, o := range page.Orders {
				got = append(got, o.ID)
			}
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("orders newest first (-want +got):\n%s", diff)
		}
		s.call(t, "GET", "/api/v1/orders?limit=0", lister, "").want(t, 400, httpapi.CodeInvalidArgument)
		s.call(t, "GET", "/api/v1/orders?limit=101", lister, "").want(t, 400, httpapi.CodeInvalidArgument)
		s.call(t, "GET", "/api/v1/orders?page_token=%21%21garbage", lister, "").want(t, 400, httpapi.CodeInvalidArgument)
		empty := decode[httpapi.OrderList](t, s.call(t, "GET", "/api/v1/orders", stacktest.Unique("empty"), ""))
		if diff := cmp.Diff(httpapi.OrderList{Orders: []httpapi.Order{}}, empty, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("empty list (-want +got):\n%s", diff)
		}
	})
}

// waitFinal waits until the order leaves PENDING (the payment travels
// through both outboxes, Debezium and Kafka), polling the gateway.
func waitFinal(t *testing.T, s *shop, user, id string) httpapi.Order {
	t.Helper()
	var o httpapi.Order
	stacktest.WaitFor(t, 90*time.Second, "order "+id+" to leave PENDING", func() bool {
		r := s.call(t, "GET", "/api/v1/orders/"+id, user, "")
		if r.status != 200 {
			t.Fatalf("GET order %s: %d %s", id, r.status, r.body)
		}
		o = decode[httpapi.Order](t, r)
		return o.Status != "PENDING"
	})
	return o
}
