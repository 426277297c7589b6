// Package bench holds the benchmarks of the shop: the hot-path Go
// benchmarks in this package (go test -bench . shop/bench) and the
// end-to-end load generator in cmd/loadgen (make bench). See README.md.
package bench
