package groupcommit

import (
	"context"
	"testing"
)

// The cost of the engine itself per submission, with a commit func that
// does nothing: what group commit adds to a transaction's CPU.

func BenchmarkDo(b *testing.B) {
	c, err := New(Config[int]{Slots: 2}, func(context.Context, []int) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Do(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDoParallel(b *testing.B) {
	c, err := New(Config[int]{Slots: 2}, func(context.Context, []int) error { return nil })
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Do(ctx, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
