package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"

	"shop/service/pki"
	"shop/stack/local"
)

// programName is what `stack pki` takes as a name: a directory name that
// stays inside the pki directory.
var programName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// pkiCommand is `stack pki [NAME...]`: it makes the local CA and a gRPC
// certificate for each program (default local.PKIIdentities) under
// STACK_DATA_DIR/pki, as `stack run` does, keeping those that exist, and
// prints each program's files. It returns exit code 2 for bad usage.
func pkiCommand(cfg config, args []string, out io.Writer) (int, error) {
	names := args
	if len(names) == 0 {
		names = local.PKIIdentities
	}
	for _, n := range names {
		if !programName.MatchString(n) || n == "ca" {
			return 2, errors.New("usage: stack pki [NAME...] (program names such as gateway or orders)")
		}
	}
	ids, err := pki.Ensure(local.PKIDir(cfg.DataDir), names...)
	if err != nil {
		return 1, err
	}
	for _, n := range names {
		id := ids[n]
		if _, err := fmt.Fprintf(out, "%s\t%s %s %s\n", n, id.Cert(), id.Key(), id.CA()); err != nil {
			return 1, err
		}
	}
	return 0, nil
}
