package lifecycle

import "strings"

// Env reads configuration from environment variables through a lookup
// function: os.LookupEnv in main, a map in tests. Every method trims the
// value of surrounding white space and treats a variable that is empty after
// trimming as unset, so that NAME= in an env file keeps the default.
type Env func(name string) (value string, ok bool)

// Lookup returns the trimmed value of name and whether it is set and
// non-empty.
func (e Env) Lookup(name string) (string, bool) {
	v, ok := e(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String sets *dst to the value of name when it is set; otherwise *dst is
// left alone.
func (e Env) String(name string, dst *string) {
	if v, ok := e.Lookup(name); ok {
		*dst = v
	}
}

// List sets *dst to the comma-separated items of name, each trimmed and the
// empty ones dropped, when name is set; otherwise *dst is left alone. A
// value with no items at all, such as ",", sets *dst to nil, for the
// caller's validation to reject.
func (e Env) List(name string, dst *[]string) {
	v, ok := e.Lookup(name)
	if !ok {
		return
	}
	var items []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			items = append(items, p)
		}
	}
	*dst = items
}
