package outbox

// SetBatchSize makes Purge delete at most n rows per statement until the
// returned function restores the default.
func SetBatchSize(n int) (restore func()) {
	old := batchSize
	batchSize = n
	return func() { batchSize = old }
}
