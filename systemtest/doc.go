// Package systemtest holds the tests that run the whole shop: the gateway,
// the orders and payments services, both Postgres databases, Kafka and the
// Debezium outbox connectors on Kafka Connect, all real. They prove the
// properties no single module can: an order is debited once whatever Kafka
// redelivers, concurrent orders never overdraw an account, an undecodable
// message does not block its partition, and a payments process killed with
// SIGKILL loses and duplicates nothing.
//
// The tests start the system through package shop/systemtest/system, as
// the gateway's end-to-end test does. The package itself has no non-test
// code; run it with
// `go test -race ./systemtest/...` (it starts its own infrastructure) or
// under `make test` (shared infrastructure).
package systemtest
