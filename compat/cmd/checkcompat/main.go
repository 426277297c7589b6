// Command checkcompat checks that proto/ stays wire- and JSON-compatible with
// the compatibility baseline (compat/BASELINE): old and new binaries must read
// each other's gRPC messages and events during a rolling upgrade. Run from the
// repository root (make check-compat); it exits 1 when proto/ breaks the
// baseline, saying what broke and how to evolve it instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"shop/compat"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "check-compat:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	buf := flag.String("buf", ".bin/buf", "the Buf CLI")
	repo := flag.String("repo", ".", "the git repository that holds the baseline commit")
	protoDir := flag.String("proto", "proto", "the .proto files to check (with their buf.yaml)")
	flag.Parse()
	baseline, err := compat.Baseline()
	if err != nil {
		return err
	}
	if err := compat.CheckProto(ctx, *buf, *repo, *protoDir, baseline); err != nil {
		return err
	}
	fmt.Printf("proto/ is wire- and JSON-compatible with the baseline %s (%s)\n", baseline, compat.BaselineFile)
	return nil
}
