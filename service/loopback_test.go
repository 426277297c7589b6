package service

import "testing"

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"[::1]", true},
		{"", false},
		{"0.0.0.0", false},
		{"::", false},
		{"10.0.0.1", false},
		{"localhost.evil.example", false},
		{"issuer.example", false},
		{"::ffff:10.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := LoopbackHost(tt.host); got != tt.want {
				t.Errorf("LoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}
