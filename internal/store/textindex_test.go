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

// TestTextIndexerBatchesGrowWhenBehind: a pass takes TextIndexBatch,
// then twice the last batch while they come back full, up to maxBatch;
// the next pass starts small again.
func TestTextIndexerBatchesGrowWhenBehind(t *testing.T) {
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
	x := StartTextIndexer(index, 4*TextIndexBatch, slog.New(slog.DiscardHandler))
	defer x.Stop()
	if err := x.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(limits)
	backlog, limits = 50, nil
	mu.Unlock()
	// 200 + 400 + 800 + 600 (of 800): the backlog of 2,000 is done.
	want := []int{200, 400, 800, 800}
	if !slices.Equal(got[:min(len(got), len(want))], want) {
		t.Fatalf("batch limits %v, want %v first", got, want)
	}
	if err := x.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(limits) == 0 || limits[0] != TextIndexBatch {
		t.Fatalf("the next pass's batch limits are %v, want %d first", limits, TextIndexBatch)
	}
}
