package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client calls the gateway's REST API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the gateway at base (scheme and host, no
// path), which must be a loopback address: the load generator never leaves
// the machine. Connections are kept alive; up to maxIdle stay open.
func NewClient(base string, maxIdle int, timeout time.Duration) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway url %q: want http://host:port", base)
	}
	if !IsLoopback(u.Hostname()) {
		return nil, fmt.Errorf("gateway url %q: only loopback addresses are allowed", base)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxIdle,
		MaxIdleConnsPerHost: maxIdle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &Client{base: u.Scheme + "://" + u.Host, hc: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// IsLoopback reports whether host (a name or an IP) is this machine.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close closes idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// StatusError is a response other than the expected success.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body) }

// ErrorClass names an error for counting: "http_<code>", "timeout" or
// "transport".
func ErrorClass(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return "http_" + strconv.Itoa(se.Code)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "transport"
}

// do sends a request as user and decodes a response with status want into
// out (when not nil). Any other status is a *StatusError.
func (c *Client) do(ctx context.Context, method, path, user string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if user != "" {
		req.Header.Set("X-User-ID", user)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Ready reports whether the gateway's /readyz answers 200.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", "", nil, http.StatusOK, nil)
}

// OpenAccount creates user's account (an existing one is fine) and tops it
// up by amount.
func (c *Client) OpenAccount(ctx context.Context, user string, amount int64) error {
	err := c.do(ctx, http.MethodPost, "/api/v1/account", user, nil, http.StatusCreated, nil)
	var se *StatusError
	if err != nil && !(errors.As(err, &se) && se.Code == http.StatusConflict) {
		return fmt.Errorf("create account %s: %w", user, err)
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/account/top-up", user,
		map[string]int64{"amount": amount}, http.StatusOK, nil); err != nil {
		return fmt.Errorf("top up %s: %w", user, err)
	}
	return nil
}

// Order is the part of the REST Order this package reads.
type Order struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	CancelReason string `json:"cancel_reason"`
}

// Terminal reports whether the order's payment has been decided.
func (o Order) Terminal() bool { return o.Status == "PAID" || o.Status == "CANCELLED" }

// CreateOrder is POST /api/v1/orders; success is 201.
func (c *Client) CreateOrder(ctx context.Context, user string, amount int64, description string) (Order, error) {
	var o Order
	err := c.do(ctx, http.MethodPost, "/api/v1/orders", user,
		struct {
			Amount      int64  `json:"amount"`
			Description string `json:"description"`
		}{amount, description}, http.StatusCreated, &o)
	return o, err
}

// GetOrder is GET /api/v1/orders/{id}; success is 200.
func (c *Client) GetOrder(ctx context.Context, user, id string) (Order, error) {
	var o Order
	err := c.do(ctx, http.MethodGet, "/api/v1/orders/"+url.PathEscape(id), user, nil, http.StatusOK, &o)
	return o, err
}
