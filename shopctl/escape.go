package main

import (
	"fmt"
	"strings"
	"unicode"
)

// terminalSafe returns s with every character that a terminal would act on
// rather than print written as an escape: C0 and C1 control characters
// (ESC starts a terminal escape sequence; CR and BS overwrite what was
// printed), DEL, line and paragraph separators and the bidirectional
// overrides (which reorder what follows). They print as \n, \t, \r or
// \xNN below U+0100, and as \uNNNN above. Everything shopctl prints that it
// read from a database, a message or a remote API goes through it: a dead
// letter's bytes are whatever a producer wrote.
func terminalSafe(s string) string {
	if strings.IndexFunc(s, unsafeRune) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !unsafeRune(r):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r is one terminalSafe escapes.
func unsafeRune(r rune) bool {
	switch {
	case unicode.IsControl(r): // C0, DEL, C1
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case '\u202a' <= r && r <= '\u202e', '\u2066' <= r && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true // bidirectional embeddings, overrides, isolates and marks
	}
	return false
}
