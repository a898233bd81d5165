package message

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSortTerms: the radix sort orders terms as slices.Sort does, at
// every length around its cut-over and for keys differing in one octet.
func TestSortTerms(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 255, 256, 257, 1000, 5000} {
		for _, mask := range []uint32{0xffffffff, 0xff, 0xff00ff00, 0xff000000} {
			terms := make([]uint32, n)
			for i := range terms {
				terms[i] = rng.Uint32() & mask
			}
			want := slices.Sorted(slices.Values(terms))
			if sortTerms(terms); !slices.Equal(terms, want) {
				t.Fatalf("%d terms, mask %#x: not sorted as slices.Sort sorts", n, mask)
			}
		}
	}
}

func BenchmarkSortTerms(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	terms := make([]uint32, 4000)
	buf := make([]uint32, len(terms))
	for i := range terms {
		terms[i] = rng.Uint32()
	}
	for _, c := range []struct {
		name string
		sort func([]uint32)
	}{{"radix", sortTerms}, {"pdqsort", slices.Sort[[]uint32]}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				copy(buf, terms)
				c.sort(buf)
			}
		})
	}
}
