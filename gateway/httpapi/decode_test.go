package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		want        CreateOrderRequest
		wantStatus  int    // 0 means success
		wantMessage string // substring of the error message
	}{
		{name: "OK", body: `{"amount": 15000, "description": "two coffees"}`, want: CreateOrderRequest{Amount: ptr[int64](15000), Description: "two coffees"}},
		{name: "OKWhitespace", body: " \n\t{\"amount\":1}\r\n ", want: CreateOrderRequest{Amount: ptr[int64](1)}},
		{name: "OKMissingAmountLeftNil", body: `{"description":"x"}`, want: CreateOrderRequest{Description: "x"}},
		{name: "ErrNullAmount", body: `{"amount":null}`, wantStatus: 400, wantMessage: "amount must not be null"},
		{name: "ErrNullDescription", body: `{"amount":1,"description":null}`, wantStatus: 400, wantMessage: "description must not be null"},
		{name: "OKNullInsideString", body: `{"amount":1,"description":"null"}`, want: CreateOrderRequest{Amount: ptr[int64](1), Description: "null"}},
		{name: "OKMaxInt64", body: `{"amount":9223372036854775807}`, want: CreateOrderRequest{Amount: ptr[int64](9223372036854775807)}},
		{name: "OKNegativePassedOn", body: `{"amount":-5}`, want: CreateOrderRequest{Amount: ptr[int64](-5)}},
		{name: "OKUnicode", body: `{"amount":1,"description":"кофе \u2615"}`, want: CreateOrderRequest{Amount: ptr[int64](1), Description: "кофе ☕"}},
		{name: "ErrEmpty", body: ``, wantStatus: 400, wantMessage: "request body is empty"},
		{name: "ErrOnlySpace", body: "  \n", wantStatus: 400, wantMessage: "request body is empty"},
		{name: "ErrMalformed", body: `{"amount":`, wantStatus: 400, wantMessage: "not valid JSON"},
		{name: "ErrMalformedKey", body: `{amount: 1}`, wantStatus: 400, wantMessage: "not valid JSON"},
		{name: "ErrTrailingGarbage", body: `{"amount":1} x`, wantStatus: 400, wantMessage: "unexpected data after it"},
		{name: "ErrTwoObjects", body: `{"amount":1}{"amount":2}`, wantStatus: 400, wantMessage: "unexpected data after it"},
		{name: "ErrArray", body: `[{"amount":1}]`, wantStatus: 400, wantMessage: "must be a JSON object"},
		{name: "ErrNull", body: `null`, wantStatus: 400, wantMessage: "must be a JSON object"},
		{name: "ErrNumber", body: `1`, wantStatus: 400, wantMessage: "must be a JSON object"},
		{name: "ErrUnknownField", body: `{"amount":1,"currency":"RUB"}`, wantStatus: 400, wantMessage: `unknown field "currency"`},
		{name: "ErrWrongCaseField", body: `{"Amount":1}`, wantStatus: 400, wantMessage: `unknown field "Amount"`},
		{name: "ErrDuplicateField", body: `{"amount":1,"amount":2}`, wantStatus: 400, wantMessage: `duplicate field "amount"`},
		{name: "OKNestedValueSkipped", body: `{"description":"{\"amount\":1}","amount":3}`, want: CreateOrderRequest{Amount: ptr[int64](3), Description: `{"amount":1}`}},
		{name: "ErrFloat", body: `{"amount":1.5}`, wantStatus: 400, wantMessage: "amount must be an integer"},
		{name: "ErrIntegralFloat", body: `{"amount":1.0}`, wantStatus: 400, wantMessage: "amount must be an integer"},
		{name: "ErrExponent", body: `{"amount":1e3}`, wantStatus: 400, wantMessage: "amount must be an integer"},
		{name: "ErrString", body: `{"amount":"1"}`, wantStatus: 400, wantMessage: "amount must be a JSON integer, got string"},
		{name: "ErrBool", body: `{"amount":true}`, wantStatus: 400, wantMessage: "amount must be a JSON integer, got bool"},
		{name: "ErrObject", body: `{"amount":{}}`, wantStatus: 400, wantMessage: "amount must be a JSON integer, got object"},
		{name: "ErrOverflow", body: `{"amount":9223372036854775808}`, wantStatus: 400, wantMessage: "amount is out of range"},
		{name: "ErrNegativeOverflow", body: `{"amount":-99999999999999999999}`, wantStatus: 400, wantMessage: "amount is out of range"},
		{name: "ErrDescriptionNumber", body: `{"amount":1,"description":5}`, wantStatus: 400, wantMessage: "description must be a JSON string"},
		{name: "ErrTooLarge", body: `{"amount":1,"description":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, wantStatus: 413, wantMessage: "must not exceed 65536 bytes"},
		{name: "ErrTooLargeByWhitespace", body: `{"amount":1}` + strings.Repeat(" ", MaxBodyBytes), wantStatus: 413, wantMessage: "must not exceed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			body := http.MaxBytesReader(rec, ioNopCloser{strings.NewReader(tt.body)}, MaxBodyBytes)
			var got CreateOrderRequest
			e := decodeJSON(body, &got)
			if tt.wantStatus == 0 {
				if e != nil {
					t.Fatalf("decodeJSON: %v", e)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("decoded (-want +got):\n%s", diff)
				}
				return
			}
			if e == nil {
				t.Fatalf("decodeJSON succeeded with %+v, want %d", got, tt.wantStatus)
			}
			wantCode := CodeInvalidArgument
			if tt.wantStatus == 413 {
				wantCode = CodePayloadTooLarge
			}
			if e.status != tt.wantStatus || e.code != wantCode {
				t.Errorf("got %d %s, want %d %s", e.status, e.code, tt.wantStatus, wantCode)
			}
			if !strings.Contains(e.message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", e.message, tt.wantMessage)
			}
		})
	}
}

type ioNopCloser struct{ *strings.Reader }

func (ioNopCloser) Close() error { return nil }

// A body that breaks mid-read is the client's fault: 400, not 500.
func TestDecodeJSONReadError(t *testing.T) {
	e := decodeJSON(errReader{}, &TopUpRequest{})
	if e == nil || e.status != http.StatusBadRequest {
		t.Fatalf("got %v, want 400", e)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestJSONFieldNames(t *testing.T) {
	type s struct {
		A       int `json:"a,omitempty"`
		B       int
		C       int `json:"-"`
		private int
	}
	_ = s{}.private
	want := map[string]bool{"a": true, "B": true}
	if diff := cmp.Diff(want, jsonFieldNames(reflect.TypeFor[s]())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
