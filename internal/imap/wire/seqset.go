package wire

import (
	"strconv"
	"strings"
)

// Star is "*" in a sequence set: the largest number in use. It is stored
// as 0, which is not a valid sequence number or UID (RFC 9051 §9:
// seq-number is nz-number / "*").
const Star = 0

// Range is lo:hi of a sequence set as the client wrote it (lo may exceed
// hi; either may be Star).
type Range struct{ Lo, Hi uint32 }

// Bounds returns the range with "*" replaced by largest and its ends in
// order (RFC 9051 §9 seq-range: "n:*" with n above largest is "*:n").
func (r Range) Bounds(largest uint32) (lo, hi uint32) {
	lo, hi = r.Lo, r.Hi
	if lo == Star {
		lo = largest
	}
	if hi == Star {
		hi = largest
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// SeqSet is a sequence set, or "$" (RFC 5182 SEARCHRES) when Dollar is set.
type SeqSet struct {
	Ranges []Range
	Dollar bool
}

// Contains reports whether n is in the set, "*" meaning largest. A "$"
// set contains nothing here: the session resolves it from its saved
// search result.
func (s SeqSet) Contains(n, largest uint32) bool {
	for _, r := range s.Ranges {
		lo, hi := r.Bounds(largest)
		if lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// String formats the set in its wire form (ranges as given).
func (s SeqSet) String() string {
	if s.Dollar {
		return "$"
	}
	var b strings.Builder
	num := func(n uint32) {
		if n == Star {
			b.WriteByte('*')
		} else {
			b.WriteString(strconv.FormatUint(uint64(n), 10))
		}
	}
	for i, r := range s.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		num(r.Lo)
		if r.Hi != r.Lo {
			b.WriteByte(':')
			num(r.Hi)
		}
	}
	return b.String()
}

// FormatNums writes ascending numbers as a compact sequence set
// ("1:3,7,9:10"), for COPYUID, ESEARCH ALL and the like. It returns "" for
// none.
func FormatNums(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(nums[i]), 10))
		if j > i {
			b.WriteByte(':')
			b.WriteString(strconv.FormatUint(uint64(nums[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}
