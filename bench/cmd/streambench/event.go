package main

import (
	"encoding/json"
	"fmt"
	"time"

	"shop/gateway/sse"
)

// nextFrame returns the next frame of r that carries an id or data: the
// frames of comments (": keep-alive") or retry: alone are skipped. At the
// end of the stream it returns r's error (io.EOF for a clean end).
func nextFrame(r *sse.Reader) (sse.Frame, error) {
	for {
		f, err := r.Next()
		if err != nil || f.HasID || f.HasData {
			return f, err
		}
	}
}

// orderEvent is the part of an event "order"'s data (the REST Order) that
// the measurement reads.
type orderEvent struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// parseOrderEvent decodes an event "order"'s data.
func parseOrderEvent(fr sse.Frame) (orderEvent, error) {
	if fr.Event != "order" {
		return orderEvent{}, fmt.Errorf("event %q: want order", fr.Event)
	}
	var o orderEvent
	if err := json.Unmarshal([]byte(fr.Data), &o); err != nil {
		return orderEvent{}, fmt.Errorf("event order: %w", err)
	}
	if o.ID == "" || o.Status == "" || o.UpdatedAt.IsZero() {
		return orderEvent{}, fmt.Errorf("event order %.200q: missing id, status or updated_at", fr.Data)
	}
	return o, nil
}
