package httpapi

import (
	"net/http/httptest"
	"testing"
)

func TestLastEventID(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		query   string
		want    int64 // -1: none
		wantErr bool
	}{
		{name: "None", want: -1},
		{name: "Header", header: "17", want: 17},
		{name: "Zero", header: "0", want: 0},
		{name: "Query", query: "?last_event_id=5", want: 5},
		{name: "HeaderWinsOverQuery", header: "9", query: "?last_event_id=5", want: 9},
		{name: "ErrEmptyQuery", query: "?last_event_id=", wantErr: true},
		{name: "Max", header: "9007199254740991", want: 9007199254740991},
		{name: "ErrOverMax", header: "9007199254740992", wantErr: true},
		{name: "ErrBadQueryUnderHeader", header: "9", query: "?last_event_id=x", wantErr: true},
		{name: "ErrNegative", header: "-1", wantErr: true},
		{name: "ErrPlus", header: "+1", wantErr: true},
		{name: "ErrText", header: "abc", wantErr: true},
		{name: "ErrFraction", query: "?last_event_id=1.5", wantErr: true},
		{name: "ErrOverflow", header: "9223372036854775808", wantErr: true},
		{name: "ErrQueryTwice", query: "?last_event_id=1&last_event_id=2", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api/v1/orders/stream"+tt.query, nil)
			if tt.header != "" {
				r.Header.Set(HeaderLastEventID, tt.header)
			}
			got, err := lastEventID(r)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", *got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want < 0 && got != nil:
				t.Errorf("got %d, want none", *got)
			case tt.want >= 0 && (got == nil || *got != tt.want):
				t.Errorf("got %v, want %d", got, tt.want)
			}
		})
	}
}
