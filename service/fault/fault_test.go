package fault

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestAccessors(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantKind    Kind
		wantReason  string
		wantMessage string
	}{
		{name: "Plain", err: errors.New("db exploded"), wantKind: Internal, wantReason: ReasonInternal, wantMessage: "internal error"},
		{name: "Invalid", err: Errorf(Invalid, "amount bad"), wantKind: Invalid, wantReason: ReasonInvalidArgument, wantMessage: "amount bad"},
		{name: "WrappedWithReason", err: fmt.Errorf("create: %w", Errorf(AlreadyExists, "exists").WithReason(ReasonAccountExists)), wantKind: AlreadyExists, wantReason: ReasonAccountExists, wantMessage: "exists"},
		{name: "InternalHidesMessage", err: &Error{Kind: Internal, Reason: "SOMETHING", Message: "secret dsn"}, wantKind: Internal, wantReason: ReasonInternal, wantMessage: "internal error"},
		{name: "EmptyReasonIsKindDefault", err: &Error{Kind: NotFound, Message: "nope"}, wantKind: NotFound, wantReason: ReasonNotFound, wantMessage: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf() = %v, want %v", got, tt.wantKind)
			}
			if got := ReasonOf(tt.err); got != tt.wantReason {
				t.Errorf("ReasonOf() = %q, want %q", got, tt.wantReason)
			}
			if got := MessageOf(tt.err); got != tt.wantMessage {
				t.Errorf("MessageOf() = %q, want %q", got, tt.wantMessage)
			}
		})
	}
}

func TestErrorfKeepsCause(t *testing.T) {
	cause := errors.New("cause")
	err := Errorf(Unavailable, "database unavailable: %w", cause)
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(err, cause) = false, want true")
	}
	if got, want := err.Error(), "unavailable: database unavailable: cause"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestStatus(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		wantCode   codes.Code
		wantReason string
		wantMsg    string
	}{
		{name: "Invalid", err: Errorf(Invalid, "amount must be between 1 and 1000000000000"), wantCode: codes.InvalidArgument, wantReason: "INVALID_ARGUMENT", wantMsg: "amount must be between 1 and 1000000000000"},
		{name: "NotFound", err: Errorf(NotFound, "account not found"), wantCode: codes.NotFound, wantReason: "NOT_FOUND", wantMsg: "account not found"},
		{name: "AccountExists", err: Errorf(AlreadyExists, "account already exists").WithReason(ReasonAccountExists), wantCode: codes.AlreadyExists, wantReason: "ACCOUNT_EXISTS", wantMsg: "account already exists"},
		{name: "BalanceLimit", err: Errorf(FailedPrecondition, "too much").WithReason(ReasonBalanceLimitExceeded), wantCode: codes.FailedPrecondition, wantReason: "BALANCE_LIMIT_EXCEEDED", wantMsg: "too much"},
		{name: "KeyReused", err: fmt.Errorf("top up: %w", Errorf(FailedPrecondition, "reused").WithReason(ReasonIdempotencyKeyReused)), wantCode: codes.FailedPrecondition, wantReason: "IDEMPOTENCY_KEY_REUSED", wantMsg: "reused"},
		{name: "KeyInUse", err: Errorf(Aborted, "in use").WithReason(ReasonIdempotencyKeyInUse), wantCode: codes.Aborted, wantReason: "IDEMPOTENCY_KEY_IN_USE", wantMsg: "in use"},
		{name: "UnavailableHidesCause", err: &Error{Kind: Unavailable, Message: "database unavailable", Err: errors.New("dial tcp 10.0.0.1:5432")}, wantCode: codes.Unavailable, wantReason: "UNAVAILABLE", wantMsg: "service unavailable"},
		{name: "PlainErrorIsInternal", err: errors.New("password=secret"), wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
		{name: "InternalKindHidesMessage", err: &Error{Kind: Internal, Reason: "SOMETHING", Message: "leaky"}, wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
		{name: "ClientCancelled", ctx: cancelled, err: fmt.Errorf("get: %w", context.Canceled), wantCode: codes.Canceled, wantReason: "CANCELLED", wantMsg: "request cancelled"},
		{name: "CancelledWithoutClientCancelIsInternal", err: context.Canceled, wantCode: codes.Internal, wantReason: "INTERNAL", wantMsg: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			st := Status(ctx, tt.err)
			if st.Code() != tt.wantCode {
				t.Errorf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			if st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
			want := []any{&errdetails.ErrorInfo{Reason: tt.wantReason, Domain: "shop"}}
			if diff := cmp.Diff(want, st.Details(), protocmp.Transform()); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
		})
	}
}
