package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/sethvargo/go-envconfig"
)

// Lookup finds an environment variable: os.LookupEnv in main, a map in
// tests.
type Lookup func(name string) (value string, ok bool)

// Validator is a configuration that can check itself.
type Validator interface {
	Validate() error
}

// Load fills cfg, a pointer to a struct whose fields carry `env` tags
// (name, default and options on one line, as github.com/sethvargo/go-envconfig
// reads them), from lookup, and then validates it. A value is trimmed of
// surrounding white space, and a variable that is empty after trimming is
// unset, so NAME= in an env file keeps the default. Lists are comma
// separated, their items trimmed and the empty ones dropped. It returns an
// error for a value that does not parse or a configuration that does not
// validate.
func Load(ctx context.Context, lookup Lookup, cfg Validator) error {
	// Fields are read one after the other, each parsed right after its
	// lookup: a parse error belongs to the variable looked up last, which
	// envconfig's message (a Go field path) does not name.
	var last string
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target: cfg,
		Lookuper: trimmed(func(name string) (string, bool) {
			last = name
			return lookup(name)
		}),
		Mutators: []envconfig.Mutator{dropEmptyItems},
	})
	if err != nil {
		return fmt.Errorf("configuration: %s: %w", last, err)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	return nil
}

// Defaults returns the configuration T with every default applied and
// nothing read from the environment: what the stack launcher and the docs
// take the defaults from. T's defaults must parse; Defaults panics
// otherwise, since that is a bug in the tags.
func Defaults[T any]() T {
	var cfg T
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target:   &cfg,
		Lookuper: envconfig.MapLookuper(nil),
	})
	if err != nil {
		panic(fmt.Sprintf("defaults of %T: %v", cfg, err))
	}
	return cfg
}

func trimmed(lookup Lookup) envconfig.Lookuper {
	return envconfig.LookuperFunc(func(name string) (string, bool) {
		v, ok := lookup(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	})
}

// dropEmptyItems normalises list values: " a:1, b:2 ,," reads as
// "a:1,b:2". A value with no items at all, such as ",", becomes empty,
// which decodes to an empty list for Validate to reject.
var dropEmptyItems = envconfig.MutatorFunc(func(_ context.Context, _, _, _, value string) (string, bool, error) {
	if !strings.Contains(value, ",") {
		return value, false, nil
	}
	var items []string
	for _, p := range strings.Split(value, ",") {
		if p = strings.TrimSpace(p); p != "" {
			items = append(items, p)
		}
	}
	return strings.Join(items, ","), false, nil
})
