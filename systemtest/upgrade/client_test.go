package upgrade

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// client calls the gateway's REST API as a user in AUTH_MODE=header.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// post sends body (JSON, or none when nil) to path as user and decodes the
// response into out (when not nil). A status other than want is an error
// that carries the response body.
func (c *client) post(ctx context.Context, path, user string, body any, want int, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("X-User-ID", user)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s as %s: %w", path, user, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s as %s: status %d, want %d: %s", path, user, resp.StatusCode, want, b)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// openAccount creates user's account and tops it up with funds.
func (c *client) openAccount(ctx context.Context, user string, funds int64) error {
	if err := c.post(ctx, "/api/v1/account", user, nil, http.StatusCreated, nil); err != nil {
		return err
	}
	return c.post(ctx, "/api/v1/account/top-up", user, map[string]int64{"amount": funds}, http.StatusOK, nil)
}

// createOrder places an order of amount for user and returns its id.
func (c *client) createOrder(ctx context.Context, user string, amount int64) (string, error) {
	var o struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	body := map[string]any{"amount": amount, "description": "mixed-version test"}
	if err := c.post(ctx, "/api/v1/orders", user, body, http.StatusCreated, &o); err != nil {
		return "", err
	}
	if o.Status != "PENDING" {
		return "", fmt.Errorf("new order %s of %s: status %s, want PENDING", o.ID, user, o.Status)
	}
	return o.ID, nil
}
