package grpcapi

import (
	"log/slog"
	"testing"
)

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(nil, slog.Default()); err == nil {
		t.Error("New(nil store) error = nil, want error")
	}
	if _, err := New(&fakeStore{}, nil); err == nil {
		t.Error("New(nil logger) error = nil, want error")
	}
}
