package postgres

// ParkedSweepSQL is the sweep's query, for the test of its plan.
const ParkedSweepSQL = parkedSweepSQL
