package connect

import (
	"strings"
	"testing"

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
