package load

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUserNames(t *testing.T) {
	tests := []struct {
		prefix, runID string
		n             int
		want          []string
	}{
		{"bench", "20261128T092816Z", 3, []string{"bench-20261128t092816z-0", "bench-20261128t092816z-1", "bench-20261128t092816z-2"}},
		{"streambench", "R", 1, []string{"streambench-r-0"}},
		{"bench", "R", 0, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.prefix+"/"+tt.runID, func(t *testing.T) {
			if got := UserNames(tt.prefix, tt.runID, tt.n); !slices.Equal(got, tt.want) {
				t.Errorf("UserNames = %v, want %v", got, tt.want)
			}
		})
	}
}

// accountGateway records the accounts created and topped up; an account of
// a user starting with "fail" is refused with 503, one starting with "dup"
// exists already (409).
type accountGateway struct {
	mu      sync.Mutex
	created map[string]bool
	topUps  map[string]int64
}

func (g *accountGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user := r.Header.Get("X-User-ID")
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/account":
		switch {
		case strings.HasPrefix(user, "fail"):
			w.WriteHeader(http.StatusServiceUnavailable)
		case strings.HasPrefix(user, "dup"):
			w.WriteHeader(http.StatusConflict)
		default:
			g.created[user] = true
			w.WriteHeader(http.StatusCreated)
		}
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/account/top-up":
		var body struct{ Amount int64 }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		g.topUps[user] += body.Amount
	default:
		http.NotFound(w, r)
	}
}

func TestOpenAccounts(t *testing.T) {
	tests := []struct {
		name      string
		users     []string
		cancelled bool
		wantErr   string // empty: no error
	}{
		{"all", UserNames("u", "r", 50), false, ""},
		{"existing account is fine", []string{"dup-1", "u-1"}, false, ""},
		{"none", nil, false, ""},
		{"refused", append(UserNames("u", "r", 5), "fail-1"), false, "HTTP 503"},
		{"cancelled", UserNames("u", "r", 5), true, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &accountGateway{created: map[string]bool{}, topUps: map[string]int64{}}
			srv := httptest.NewServer(g)
			defer srv.Close()
			c, err := NewClient(srv.URL, 16, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			err = c.OpenAccounts(ctx, tt.users, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("OpenAccounts error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range tt.users {
				if g.topUps[u] != AccountTopUp {
					t.Errorf("%s topped up by %d, want %d", u, g.topUps[u], AccountTopUp)
				}
			}
			if len(g.topUps) != len(tt.users) {
				t.Errorf("%d accounts topped up, want %d", len(g.topUps), len(tt.users))
			}
		})
	}
}
