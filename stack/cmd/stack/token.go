package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"time"

	"shop/stack/devissuer"
	"shop/stack/local"
)

// token is `stack token [-ttl D] USER`: it prints a bearer token for USER
// signed by the development issuer of the stack in cfg.DataDir, which
// `stack run` created in jwt mode. It returns exit code 2 for bad usage.
func token(cfg config, args []string, out io.Writer) (int, error) {
	flags := flag.NewFlagSet("token", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	ttl := flags.Duration("ttl", devissuer.DefaultTTL, "lifetime of the token")
	if err := flags.Parse(args); err != nil || flags.NArg() != 1 {
		return 2, errors.New("usage: stack token [-ttl 1h] USER")
	}
	if *ttl <= 0 || *ttl > 24*time.Hour {
		return 2, fmt.Errorf("-ttl %s: want more than 0 and at most 24h", *ttl)
	}
	keyPath := filepath.Join(local.DevIssuerDir(cfg.DataDir), devissuer.KeyFile)
	key, err := devissuer.Load(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 1, fmt.Errorf("no development issuer key at %s: start the shop first with `make run` (AUTH_MODE=jwt, the default; STACK_DATA_DIR as for that run)", keyPath)
	}
	if err != nil {
		return 1, err
	}
	tok, err := key.Token(devissuer.Claims{Subject: flags.Arg(0), TTL: *ttl})
	if err != nil {
		return 2, err
	}
	_, err = fmt.Fprintln(out, tok)
	return 0, err
}
