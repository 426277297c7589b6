package connect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"

	"shop/service"
)

// Client talks to one Kafka Connect worker. It is safe for concurrent use.
type Client struct {
	base string
	cred Credentials
	http *http.Client
}

// Credentials are what Kafka Connect's REST API asks of every request
// (HTTP basic authentication, Kafka's BasicAuthSecurityRestExtension). The
// zero value sends none.
type Credentials struct {
	Username, Password string
}

// NewClient returns a client for the worker at baseURL (for example
// http://127.0.0.1:8083) that sends cred with every request.
func NewClient(baseURL string, cred Credentials) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("kafka connect url %q: want scheme://host:port", baseURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("kafka connect url %s: credentials belong in CONNECT_USERNAME and CONNECT_PASSWORD_FILE, not in the URL", u.Redacted())
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), cred: cred, http: &http.Client{Timeout: 90 * time.Second}}, nil
}

// FromSettings returns a client for the Kafka Connect that s names, with
// its credentials (the password read from CONNECT_PASSWORD_FILE when set).
func FromSettings(s service.Connect) (*Client, error) {
	user, pw, err := s.Credentials()
	if err != nil {
		return nil, err
	}
	return NewClient(s.URL, Credentials{Username: user, Password: pw})
}

// IsUnauthorized reports whether err is Connect's 401: no credentials, or
// wrong ones.
func IsUnauthorized(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Status == http.StatusUnauthorized
}

// Error is an answer of Kafka Connect other than success, with its own message.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("kafka connect: %d: %s", e.Status, e.Message)
}

// IsNotFound reports whether err is Connect's 404.
func IsNotFound(err error) bool {
	var ce *Error
	return errors.As(err, &ce) && ce.Status == http.StatusNotFound
}

// rebalanceWait bounds how long one call waits out a rebalance of Connect's
// group before it returns Connect's answer.
const rebalanceWait = 30 * time.Second

// rebalanceBackOff is the pause before each repeat of a request Connect
// refused for a rebalance: 50 ms, doubling up to 1 s.
func rebalanceBackOff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: 50 * time.Millisecond, Multiplier: 2, MaxInterval: time.Second}
}

// rebalancing reports whether err is Connect refusing a request only because
// its group is rebalancing: 409 ("rebalance in progress", a stale config) or
// 500 naming a rebalance ("a rebalance is expected"). Connect acted on
// nothing, and the same request succeeds once the rebalance ends.
func rebalancing(err error) bool {
	var ce *Error
	if !errors.As(err, &ce) {
		return false
	}
	return ce.Status == http.StatusConflict ||
		ce.Status == http.StatusInternalServerError && strings.Contains(strings.ToLower(ce.Message), "rebalance")
}

// do sends one request and decodes its answer into out. While Connect's
// group rebalances (another worker joining, a connector created or deleted)
// Connect refuses requests it would otherwise answer; do repeats those for
// up to rebalanceWait, so a caller sees either the answer or a real error.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		payload = b
	}
	var refused error // Connect's latest refusal
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := c.once(ctx, method, path, payload, out)
		if refused != nil && ctx.Err() != nil {
			// The caller's context ended during a repeat: Connect's
			// refusal says more than the cancelled request.
			return struct{}{}, backoff.Permanent(refused)
		}
		if !rebalancing(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		refused = err
		return struct{}{}, err
	}, backoff.WithBackOff(rebalanceBackOff()), backoff.WithMaxElapsedTime(rebalanceWait))
	if refused != nil && ctx.Err() != nil && err == context.Cause(ctx) {
		// The caller's context ended while waiting for the next repeat.
		return refused
	}
	return err
}

// once sends one request and decodes its answer into out; an answer other
// than success is an *Error with Connect's message.
func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) error {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if c.cred.Username != "" {
		req.SetBasicAuth(c.cred.Username, c.cred.Password)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("kafka connect at %s is unreachable: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("kafka connect: read response: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			e.Message = unauthorized(c.cred, e.Message)
		}
		return &Error{Status: resp.StatusCode, Message: e.Message}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("kafka connect: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}

// unauthorized says why Connect answered 401, for an operator to act on.
func unauthorized(cred Credentials, msg string) string {
	if msg == "" {
		msg = "unauthorized"
	}
	if cred.Username == "" {
		return msg + " (no credentials sent: set CONNECT_USERNAME and CONNECT_PASSWORD_FILE)"
	}
	return msg + " (user " + cred.Username + " refused: check CONNECT_USERNAME and CONNECT_PASSWORD_FILE)"
}

// Apply validates the config with the connector's plugin and then creates or
// updates the connector (PUT /connectors/{name}/config, idempotent). A
// rejected config comes back as *Error carrying Connect's own messages, per
// setting (validation answers them even where PUT answers with a bare 500).
func (c *Client) Apply(ctx context.Context, conn Connector) error {
	if err := c.Validate(ctx, conn); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(conn.Name)+"/config", conn.Config, nil)
}

// Validate asks the connector's plugin to validate conn's config, which for
// Debezium includes connecting to the database. It returns *Error with
// Connect's messages when any setting is rejected.
func (c *Client) Validate(ctx context.Context, conn Connector) error {
	class := conn.Config["connector.class"]
	if class == "" {
		return fmt.Errorf("connector %s: no connector.class", conn.Name)
	}
	cfg := map[string]string{"name": conn.Name}
	for k, v := range conn.Config {
		cfg[k] = v
	}
	var res struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value *struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	path := "/connector-plugins/" + url.PathEscape(class[strings.LastIndex(class, ".")+1:]) + "/config/validate"
	if err := c.do(ctx, http.MethodPut, path, cfg, &res); err != nil {
		return err
	}
	if res.ErrorCount == 0 {
		return nil
	}
	var msgs []string
	for _, v := range res.Configs {
		if v.Value != nil {
			for _, e := range v.Value.Errors {
				msgs = append(msgs, v.Value.Name+": "+e)
			}
		}
	}
	return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("connector %s rejected: %s", conn.Name, strings.Join(msgs, "; "))}
}

// Report writes one line per connector (its state and its tasks') to w and
// returns an error carrying Connect's own messages unless every connector and
// task is RUNNING and Connect still validates each running config (which, for
// Debezium, means it can log in to the database). It is `connectctl status`.
func (c *Client) Report(ctx context.Context, w io.Writer, names ...string) error {
	var bad []string
	for _, n := range names {
		s, err := c.Status(ctx, n)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
			continue
		}
		tasks := "none"
		if len(s.Tasks) > 0 {
			var parts []string
			for _, t := range s.Tasks {
				parts = append(parts, fmt.Sprintf("%d=%s", t.ID, t.State))
			}
			tasks = strings.Join(parts, " ")
		}
		fmt.Fprintf(w, "%s: connector %s, tasks %s\n", n, s.Connector.State, tasks)
		if p := s.Problem(); p != "" {
			bad = append(bad, p)
			continue
		}
		// Debezium keeps a task RUNNING while it retries a connection that
		// cannot succeed (a changed password, say): validating the live
		// config makes Connect say what is wrong.
		cfg, err := c.Config(ctx, n)
		if err == nil {
			err = c.Validate(ctx, Connector{Name: n, Config: cfg})
		}
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", n, err))
		}
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "\n"))
	}
	return nil
}

// State is the state of a connector and its tasks.
type State struct {
	Name      string `json:"name"`
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace,omitempty"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace,omitempty"`
	} `json:"tasks"`
}

// Running reports whether the connector and at least one task, and all of
// its tasks, are RUNNING.
func (s State) Running() bool {
	if s.Connector.State != "RUNNING" || len(s.Tasks) == 0 {
		return false
	}
	for _, t := range s.Tasks {
		if t.State != "RUNNING" {
			return false
		}
	}
	return true
}

// Problem describes why the connector is not running, using Connect's own
// trace (its first line) when there is one; empty when it runs.
func (s State) Problem() string {
	if s.Running() {
		return ""
	}
	if s.Connector.State != "RUNNING" {
		return fmt.Sprintf("connector %s is %s%s", s.Name, s.Connector.State, firstLine(s.Connector.Trace))
	}
	if len(s.Tasks) == 0 {
		return fmt.Sprintf("connector %s has no tasks yet", s.Name)
	}
	for _, t := range s.Tasks {
		if t.State != "RUNNING" {
			return fmt.Sprintf("connector %s task %d is %s%s", s.Name, t.ID, t.State, firstLine(t.Trace))
		}
	}
	return ""
}

func firstLine(trace string) string {
	if trace == "" {
		return ""
	}
	// Connect's traces are Java stack traces; the useful part is the
	// exception chain, so keep every "Caused by" line too.
	var parts []string
	for i, l := range strings.Split(trace, "\n") {
		if i == 0 || strings.HasPrefix(l, "Caused by:") {
			parts = append(parts, strings.TrimSpace(l))
		}
	}
	return ": " + strings.Join(parts, " | ")
}

// Status returns the state of one connector.
func (c *Client) Status(ctx context.Context, name string) (State, error) {
	var s State
	err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &s)
	return s, err
}

// Config returns the connector's current config.
func (c *Client) Config(ctx context.Context, name string) (map[string]string, error) {
	var cfg map[string]string
	err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/config", nil, &cfg)
	return cfg, err
}

// List returns the names of all connectors.
func (c *Client) List(ctx context.Context) ([]string, error) {
	var names []string
	err := c.do(ctx, http.MethodGet, "/connectors", nil, &names)
	return names, err
}

// RestartFailed restarts the connector's failed instance and failed tasks.
func (c *Client) RestartFailed(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPost, "/connectors/"+url.PathEscape(name)+"/restart?includeTasks=true&onlyFailed=true", nil, nil)
}

// Pause pauses the connector and its tasks.
func (c *Client) Pause(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/pause", nil, nil)
}

// Stop stops the connector and its tasks (PUT /connectors/{name}/stop):
// unlike Pause, its tasks shut down, and Debezium lets go of its
// replication slot; the config stays. Resume starts it again.
func (c *Client) Stop(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/stop", nil, nil)
}

// Resume resumes a paused or stopped connector.
func (c *Client) Resume(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/resume", nil, nil)
}

// Delete removes the connector. Its replication slot stays in Postgres.
func (c *Client) Delete(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
}

// Ready reports whether the worker answers and has the Debezium PostgreSQL
// connector plugin loaded.
func (c *Client) Ready(ctx context.Context) error {
	var plugins []struct {
		Class string `json:"class"`
	}
	if err := c.do(ctx, http.MethodGet, "/connector-plugins", nil, &plugins); err != nil {
		return err
	}
	for _, p := range plugins {
		if p.Class == "io.debezium.connector.postgresql.PostgresConnector" {
			return nil
		}
	}
	return errors.New("kafka connect runs without the Debezium PostgreSQL plugin (check plugin.path)")
}

// Wait polls until every named connector and all its tasks are RUNNING. It
// returns early with Connect's trace when one FAILED, and with the last
// problem seen when ctx ends.
func (c *Client) Wait(ctx context.Context, names ...string) error {
	var last error // the last problem seen
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		last = nil
		for _, n := range names {
			s, err := c.Status(ctx, n)
			if err != nil {
				last = err
				return struct{}{}, err
			}
			if p := s.Problem(); p != "" {
				last = errors.New(p)
				if s.Connector.State == "FAILED" || strings.Contains(p, " is FAILED") {
					return struct{}{}, backoff.Permanent(last)
				}
				return struct{}{}, last
			}
		}
		return struct{}{}, nil
	}, backoff.WithBackOff(backoff.NewConstantBackOff(250*time.Millisecond)), backoff.WithMaxElapsedTime(0))
	if last != nil && ctx.Err() != nil && err == context.Cause(ctx) {
		return fmt.Errorf("waiting for connectors: %w", last)
	}
	return err
}
