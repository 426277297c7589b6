// Package faults holds the fault matrix: the whole shop on a stack of its own
// (stack/local's supervisor, two instances of orders and of payments), a
// steady load of orders through the gateway from a client that retries as a
// real one would, and meanwhile, one at a time, a kill -9 of every process,
// a 10 s SIGSTOP of Kafka and of Postgres, and the orders connector's
// replication slot dropped under a backlog that the outbox purge (every
// second, two-second retention) would delete if it trusted the new slot.
// After each fault it asserts
// that nothing was lost, doubled or left PENDING and that the books balance,
// and it prints a table of the faults and their effect.
//
// The package has no non-test code. `make test` runs it with a light load;
// `make faults` runs it alone, longer and heavier (FAULTS_RATE, FAULTS_STEP,
// see TestFaultMatrix).
package faults
