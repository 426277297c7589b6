package httpapi

import "testing"

func TestStreamOptionsDefaults(t *testing.T) {
	got, err := StreamOptions{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := StreamOptions{Heartbeat: DefaultStreamHeartbeat, Retry: DefaultStreamRetry, MaxPerUser: DefaultStreamMaxPerUser, Max: DefaultStreamMax, WriteTimeout: DefaultStreamWriteTimeout}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := (StreamOptions{Heartbeat: -1}).withDefaults(); err == nil {
		t.Error("negative heartbeat accepted")
	}
}
