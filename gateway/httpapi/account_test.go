package httpapi

import (
	"strings"
	"testing"
	"time"
)

func TestAccount(t *testing.T) {
	env := newTestEnv(t, time.Second)
	steps := []struct {
		name       string
		req        req
		wantStatus int
		wantCode   string // error code, or "" for success
		wantBody   string // exact JSON on success
	}{
		{"GetBeforeCreate", req{method: "GET", path: "/api/v1/account", user: "alice"}, 404, CodeNotFound, ""},
		{"TopUpBeforeCreate", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`}, 404, CodeNotFound, ""},
		{"Create", req{method: "POST", path: "/api/v1/account", user: "alice"}, 201, "", `{"user_id":"alice","balance":0,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`},
		{"CreateAgain", req{method: "POST", path: "/api/v1/account", user: "alice"}, 409, CodeAccountExists, ""},
		{"Get", req{method: "GET", path: "/api/v1/account", user: "alice"}, 200, "", `{"user_id":"alice","balance":0,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:05.123456Z"}`},
		{"GetOtherUser", req{method: "GET", path: "/api/v1/account", user: "bob"}, 404, CodeNotFound, ""},
		{"TopUp", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":150000}`}, 200, "", `{"user_id":"alice","balance":150000,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:06.123456Z"}`},
		{"TopUpMax", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1000000000000}`}, 200, "", `{"user_id":"alice","balance":1000000150000,"currency":"RUB","created_at":"2025-01-02T15:04:05.123456Z","updated_at":"2025-01-02T15:04:06.123456Z"}`},
		{"TopUpZero", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":0}`}, 400, CodeInvalidArgument, ""},
		{"TopUpNegative", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":-1}`}, 400, CodeInvalidArgument, ""},
		{"TopUpTooMuch", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1000000000001}`}, 400, CodeInvalidArgument, ""},
		{"TopUpMissingAmount", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{}`}, 400, CodeInvalidArgument, ""},
		{"TopUpNullAmount", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":null}`}, 400, CodeInvalidArgument, ""},
		{"TopUpFloat", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1.5}`}, 400, CodeInvalidArgument, ""},
		{"TopUpExponent", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1e3}`}, 400, CodeInvalidArgument, ""},
		{"TopUpString", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":"1"}`}, 400, CodeInvalidArgument, ""},
		{"TopUpOverflow", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":9223372036854775808}`}, 400, CodeInvalidArgument, ""},
		{"TopUpUnknownField", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1,"currency":"USD"}`}, 400, CodeInvalidArgument, ""},
		{"TopUpMalformed", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1`}, 400, CodeInvalidArgument, ""},
		{"TopUpTrailing", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}]`}, 400, CodeInvalidArgument, ""},
		{"TopUpNoBody", req{method: "POST", path: "/api/v1/account/top-up", user: "alice"}, 400, CodeInvalidArgument, ""},
		{"TopUpBadKey", req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`, headers: map[string]string{HeaderIdempotencyKey: strings.Repeat("k", 256)}}, 400, CodeInvalidArgument, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec := env.do(t, s.req)
			if s.wantCode != "" {
				wantError(t, rec, s.wantStatus, s.wantCode)
				return
			}
			wantJSON(t, rec, s.wantStatus, s.wantBody)
		})
	}
	// Only the top-ups with a well-formed body reached the service (one
	// before the account existed, two that succeeded, three the service
	// rejected); HTTP-shape errors stopped at the gateway.
	if got, want := env.payments.count("TopUp"), 6; got != want {
		t.Errorf("TopUp calls = %d, want %d", got, want)
	}
}

func TestTopUpMessagesFromService(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	rec := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":0}`})
	got := wantError(t, rec, 400, CodeInvalidArgument)
	if want := "amount must be between 1 and 1000000000000"; got.Message != want {
		t.Errorf("message = %q, want the service's %q", got.Message, want)
	}
}

func TestTopUpBalanceLimit(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	env.payments.mu.Lock()
	env.payments.accounts["alice"].Balance = 1_000_000_000_000_000
	env.payments.mu.Unlock()
	rec := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":1}`})
	wantError(t, rec, 422, CodeBalanceLimitExceeded)
}

func TestTopUpIdempotency(t *testing.T) {
	env := newTestEnv(t, time.Second)
	env.do(t, req{method: "POST", path: "/api/v1/account", user: "alice"})
	key := map[string]string{HeaderIdempotencyKey: "top-up 1"}

	first := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":100}`, headers: key})
	if first.Code != 200 {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if got := env.payments.lastKey; got != "top-up 1" {
		t.Errorf("key passed to payments = %q, want %q", got, "top-up 1")
	}
	replay := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{ "amount": 100 }`, headers: key})
	if replay.Code != first.Code || replay.Body.String() != first.Body.String() {
		t.Errorf("replay = %d %s, want %d %s", replay.Code, replay.Body, first.Code, first.Body)
	}
	if replay.Header().Get(HeaderIdempotencyReplayed) != "true" {
		t.Errorf("replay has no %s: true", HeaderIdempotencyReplayed)
	}
	if first.Header().Get(HeaderIdempotencyReplayed) != "" {
		t.Errorf("first response is marked as replayed")
	}
	reused := env.do(t, req{method: "POST", path: "/api/v1/account/top-up", user: "alice", body: `{"amount":200}`, headers: key})
	wantError(t, reused, 422, CodeIdempotencyKeyReused)

	acc := decodeBody[Account](t, env.do(t, req{method: "GET", path: "/api/v1/account", user: "alice"}))
	if acc.Balance != 100 {
		t.Errorf("balance = %d, want 100 (one credit)", acc.Balance)
	}
}
