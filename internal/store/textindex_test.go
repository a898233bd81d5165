package store

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

func TestIntersectSorted(t *testing.T) {
	cases := []struct{ a, b, want []uint32 }{
		{nil, []uint32{1}, nil},
		{[]uint32{1, 3, 5, 7}, []uint32{2, 3, 7, 9}, []uint32{3, 7}},
		{[]uint32{1, 2, 3}, []uint32{1, 2, 3}, []uint32{1, 2, 3}},
		{[]uint32{4}, []uint32{1, 2, 3}, nil},
	}
	for _, c := range cases {
		a := slices.Clone(c.a)
		if got := IntersectSorted(nil, a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("IntersectSorted(nil, %v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
		if !slices.Equal(a, c.a) {
			t.Errorf("IntersectSorted(nil, ...) changed its input to %v", a)
		}
		if got := IntersectSorted(a[:0], a, c.b); !slices.Equal(got, c.want) {
			t.Errorf("in place: IntersectSorted(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

// TestTextIndexerTakesItsBatch: every call of a pass asks for the
// engine's batch, and the pass goes on while they come back full; a
// batch below TextIndexBatch is raised to it.
func TestTextIndexerTakesItsBatch(t *testing.T) {
	for _, c := range []struct{ batch, want int }{{4 * TextIndexBatch, 4 * TextIndexBatch}, {1, TextIndexBatch}} {
		var mu sync.Mutex
		backlog := 2000
		var limits []int
		index := func(ctx context.Context, limit int) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			limits = append(limits, limit)
			n := min(limit, backlog)
			backlog -= n
			return n, nil
		}
		x := StartTextIndexer(index, c.batch, slog.New(slog.DiscardHandler))
		if err := x.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		x.Stop()
		mu.Lock()
		// Full batches until one is not: the backlog of 2,000 is done.
		calls := (2000 + c.want) / c.want
		if backlog != 0 || len(limits) < calls {
			t.Errorf("batch %d: %d left after calls %v", c.batch, backlog, limits)
		}
		for _, l := range limits {
			if l != c.want {
				t.Errorf("batch %d: calls asked for %v, want %d each", c.batch, limits, c.want)
				break
			}
		}
		mu.Unlock()
	}
}
