package store

import (
	"slices"
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
