package main

import "testing"

func TestTerminalSafe(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"OKPlain", `{"orderId": "a-1"} ✓ алиса`, `{"orderId": "a-1"} ✓ алиса`},
		{"OKEmpty", "", ""},
		{"ErrEscapeSequence", "\x1b[2J\x1b]0;owned\x07", `\x1b[2J\x1b]0;owned\x07`},
		{"ErrCarriageReturn", "bad\rOK", `bad\rOK`},
		{"ErrNewlineTab", "a\nb\tc", `a\nb\tc`},
		{"ErrBackspaceDEL", "x\bz\x7f", `x\x08z\x7f`},
		{"ErrC1CSI", "a\u009b31mb", `a\x9b31mb`},
		{"ErrNUL", "a\x00b", `a\x00b`},
		{"ErrBidiOverride", "abc\u202edcba", `abc\u202edcba`},
		{"ErrLineSeparator", "a\u2028b", `a\u2028b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := terminalSafe(tt.in); got != tt.want {
				t.Errorf("terminalSafe(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
