package connect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shop/service"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		vars    map[string]string
		want    map[string]string
		wantErr string
	}{
		{"OK", `{"name":"${N}","config":{"a":"${A}","b":"x-${B:-def}-y"}}`, map[string]string{"N": "c1", "A": "1", "B": "2"},
			map[string]string{"a": "1", "b": "x-2-y"}, ""},
		{"Default", `{"name":"c","config":{"b":"${B:-def}"}}`, nil, map[string]string{"b": "def"}, ""},
		{"EmptyTakesDefault", `{"name":"c","config":{"b":"${B:-def}"}}`, map[string]string{"B": ""}, map[string]string{"b": "def"}, ""},
		{"EscapesJSON", `{"name":"c","config":{"p":"${P}"}}`, map[string]string{"P": `pa"ss\word`}, map[string]string{"p": `pa"ss\word`}, ""},
		{"LeavesConnectProviders", `{"name":"c","config":{"p":"${env:SECRET}"}}`, nil, map[string]string{"p": "${env:SECRET}"}, ""},
		{"ErrMissing", `{"name":"c","config":{"a":"${A}","b":"${B}"}}`, nil, nil, "no value for A, B"},
		{"ErrNotJSON", `{"name":`, nil, nil, "connector config"},
		{"ErrNoName", `{"config":{"a":"1"}}`, nil, nil, "want {"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Render([]byte(tt.file), lookup(tt.vars))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if c.Config[k] != v {
					t.Errorf("config[%s] = %q, want %q", k, c.Config[k], v)
				}
			}
		})
	}
}

func TestBundledConfigsRenderWithDefaults(t *testing.T) {
	files := Files()
	if len(files) != 2 {
		t.Fatalf("bundled configs = %v, want the orders and payments connectors", files)
	}
	topics := service.Defaults[service.Topics]()
	for _, f := range files {
		c, err := Bundled(f, lookup(TopicVars(topics)))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, want := range map[string]string{
			"plugin.name":                             "pgoutput",
			"transforms.outbox.type":                  "io.debezium.transforms.outbox.EventRouter",
			"transforms.outbox.table.field.event.key": "aggregateid",
			"publication.autocreate.mode":             "disabled",
			"column.exclude.list":                     "public.outbox.txid",
			"errors.max.retries":                      "-1",
		} {
			if c.Config[k] != want {
				t.Errorf("%s: %s = %q, want %q", f, k, c.Config[k], want)
			}
		}
		if got := c.Config["transforms.outbox.route.topic.replacement"]; !strings.HasSuffix(got, ".events") || (got != topics.Orders && got != topics.Payments) {
			t.Errorf("%s: topic = %q, want one of %+v", f, got, topics)
		}
	}
}

// Each connector streams from the slot its service's outbox purge checks:
// by default the services' own slot names, else the caller's.
func TestBundledConfigsNameTheServicesSlots(t *testing.T) {
	vars := TopicVars(service.Defaults[service.Topics]())
	want := map[string]string{
		"orders-outbox.json":   service.Defaults[service.OrdersSlot]().Name,
		"payments-outbox.json": service.Defaults[service.PaymentsSlot]().Name,
	}
	for f, slot := range want {
		c, err := Bundled(f, lookup(vars))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Config["slot.name"]; got != slot {
			t.Errorf("%s: slot.name = %q, want %q", f, got, slot)
		}
	}
	vars["ORDERS_SLOT"] = "mine"
	if c, err := Bundled("orders-outbox.json", lookup(vars)); err != nil || c.Config["slot.name"] != "mine" {
		t.Errorf("slot.name with ORDERS_SLOT=mine: %q, %v", c.Config["slot.name"], err)
	}
}

// The topics have no default in the configs: they come from service.Topics
// through TopicVars, so a caller that forgets them fails loudly.
func TestBundledConfigsNeedTheTopics(t *testing.T) {
	for _, f := range Files() {
		if _, err := Bundled(f, lookup(nil)); err == nil || !strings.Contains(err.Error(), "_TOPIC") {
			t.Errorf("%s: err = %v, want no value for the topic", f, err)
		}
	}
}

func TestStateProblem(t *testing.T) {
	type task = struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace,omitempty"`
	}
	mk := func(conn string, tasks ...task) State {
		var s State
		s.Name = "c"
		s.Connector.State = conn
		s.Tasks = tasks
		return s
	}
	trace := "org.apache.kafka.connect.errors.ConnectException: boom\n\tat x.y(Z.java:1)\nCaused by: org.postgresql.util.PSQLException: FATAL: password authentication failed\n\tat a.b"
	tests := []struct {
		name  string
		state State
		want  string
	}{
		{"Running", mk("RUNNING", task{ID: 0, State: "RUNNING"}), ""},
		{"NoTasks", mk("RUNNING"), "has no tasks yet"},
		{"ConnectorFailed", mk("FAILED"), "connector c is FAILED"},
		{"TaskFailedWithTrace", mk("RUNNING", task{ID: 0, State: "FAILED", Trace: trace}),
			"task 0 is FAILED: org.apache.kafka.connect.errors.ConnectException: boom | Caused by: org.postgresql.util.PSQLException: FATAL: password authentication failed"},
		{"TaskPaused", mk("RUNNING", task{ID: 0, State: "RUNNING"}, task{ID: 1, State: "PAUSED"}), "task 1 is PAUSED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.state.Problem()
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("Problem() = %q, want %q", got, tt.want)
			}
			if got := tt.state.Running(); got != (tt.want == "") {
				t.Errorf("Running() = %v", got)
			}
		})
	}
}

// TestClientWaitsOutRebalances runs the client against a worker stand-in
// that refuses the first requests the way Connect does while its group
// rebalances, and checks which answers are repeated and which are final.
func TestClientWaitsOutRebalances(t *testing.T) {
	tests := []struct {
		name      string
		refusals  int
		status    int
		message   string
		wantCalls int
		wantErr   string
	}{
		{"rebalance in progress", 2, http.StatusConflict, "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent config change)", 3, ""},
		{"rebalance expected", 3, http.StatusInternalServerError, "Request cannot be completed because a rebalance is expected", 4, ""},
		{"other server error", 1, http.StatusInternalServerError, "Connector configuration is invalid", 1, "500: Connector configuration is invalid"},
		{"not found", 1, http.StatusNotFound, "Connector x not found", 1, "404: Connector x not found"},
		{"no refusal", 0, 0, "", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tt.refusals {
					w.WriteHeader(tt.status)
					fmt.Fprintf(w, `{"error_code":%d,"message":%q}`, tt.status, tt.message)
					return
				}
				fmt.Fprint(w, `{"name":"x","connector":{"state":"RUNNING"},"tasks":[{"id":0,"state":"RUNNING"}]}`)
			}))
			defer srv.Close()
			c, err := NewClient(srv.URL, Credentials{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := c.Status(context.Background(), "x")
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("requests = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantErr == "" {
				if err != nil || !s.Running() {
					t.Fatalf("Status = %+v, %v; want RUNNING", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestClientStopsWaitingWithItsContext checks that a rebalance that never
// ends returns Connect's answer when the caller's context ends.
func TestClientStopsWaitingWithItsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"error_code":409,"message":"rebalance in progress"}`)
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL, Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Status(ctx, "x")
	if err == nil || !strings.Contains(err.Error(), "409: rebalance in progress") {
		t.Fatalf("err = %v, want Connect's 409", err)
	}
	if ctx.Err() == nil {
		t.Fatal("Status returned before its context ended")
	}
}

// TestBackOffPauses pins the pauses of the client's rebalance repeats and of
// Watch's restarts: no jitter, doubling up to the bound.
func TestBackOffPauses(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name string
		b    interface{ NextBackOff() time.Duration }
		want []time.Duration
	}{
		{"Rebalance", rebalanceBackOff(), []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}},
		{"Restart", restartBackOff(time.Minute), []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, MaxRestartPause, MaxRestartPause}},
		{"RestartIntervalOverBound", restartBackOff(10 * time.Minute), []time.Duration{10 * time.Minute, 10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for range tt.want {
				got = append(got, tt.b.NextBackOff())
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("pauses = %v, want %v", got, tt.want)
			}
		})
	}
}

// The replication password is never in a connector config: the bundled
// configs name a file that Connect's directory config provider reads (the
// compose secret by default, the caller's directory and file otherwise),
// and a config that sets the password any other way cannot be rendered from
// them.
func TestBundledConfigsReadThePasswordThroughTheProvider(t *testing.T) {
	vars := TopicVars(service.Defaults[service.Topics]())
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"Default", nil, "${dir:/run/secrets:debezium_db_password}"},
		{"SecretsDir", map[string]string{"CONNECT_SECRETS_DIR": "/data/connect/secrets"}, "${dir:/data/connect/secrets:debezium_db_password}"},
		{"OtherSecret", map[string]string{"CONNECT_SECRETS_DIR": "/s", "CONNECT_DB_PASSWORD_SECRET": "other"}, "${dir:/s:other}"},
		{"PasswordVariableIgnored", map[string]string{"CONNECT_DB_PASSWORD": "literal"}, "${dir:/run/secrets:debezium_db_password}"},
	}
	for _, f := range Files() {
		for _, tt := range tests {
			t.Run(f+"/"+tt.name, func(t *testing.T) {
				m := map[string]string{}
				for k, v := range vars {
					m[k] = v
				}
				for k, v := range tt.vars {
					m[k] = v
				}
				c, err := Bundled(f, lookup(m))
				if err != nil {
					t.Fatal(err)
				}
				if got := c.Config["database.password"]; got != tt.want {
					t.Errorf("database.password = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// Every request carries the credentials; Connect's 401 says which
// variables to check.
func TestClientSendsCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "shop" || p != "right" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error_code":401,"message":"User cannot access the resource."}`)
			return
		}
		fmt.Fprint(w, `["a"]`)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		cred    Credentials
		wantErr string
	}{
		{"OK", Credentials{Username: "shop", Password: "right"}, ""},
		{"ErrNone", Credentials{}, "401: User cannot access the resource. (no credentials sent: set CONNECT_USERNAME"},
		{"ErrWrong", Credentials{Username: "shop", Password: "wrong"}, "401: User cannot access the resource. (user shop refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(srv.URL, tt.cred)
			if err != nil {
				t.Fatal(err)
			}
			names, err := c.List(context.Background())
			if tt.wantErr == "" {
				if err != nil || len(names) != 1 {
					t.Fatalf("List = %v, %v; want [a]", names, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !IsUnauthorized(err) {
				t.Fatalf("err = %v, want a 401 containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := NewClient("http://shop:pw@127.0.0.1:8083", Credentials{}); err == nil || strings.Contains(err.Error(), "pw") {
		t.Errorf("NewClient with credentials in the URL: err = %v, want a refusal that does not echo the password", err)
	}
}
