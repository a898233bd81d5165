package sieve

import (
	"strconv"
	"strings"
)

// relation is the operator of :count and :value (RFC 5231 4).
type relation uint8

const (
	relGT relation = iota + 1
	relGE
	relLT
	relLE
	relEQ
	relNE
)

var relations = map[string]relation{"gt": relGT, "ge": relGE, "lt": relLT, "le": relLE, "eq": relEQ, "ne": relNE}

// holds reports whether a comparison result c (-1, 0, 1) satisfies rel.
func (rel relation) holds(c int) bool {
	switch rel {
	case relGT:
		return c > 0
	case relGE:
		return c >= 0
	case relLT:
		return c < 0
	case relLE:
		return c <= 0
	case relEQ:
		return c == 0
	}
	return c != 0
}

// compare orders a and b under the comparator.
func (cmp comparator) compare(a, b string) int {
	switch cmp {
	case cmpCasemap:
		return strings.Compare(foldASCII(a), foldASCII(b))
	case cmpNumeric:
		return compareNumeric(a, b)
	}
	return strings.Compare(a, b)
}

// compareNumeric implements i;ascii-numeric (RFC 4790 9.1): the value of a
// string is the decimal number its leading digits spell, and a string with
// no leading digit is positive infinity. Any number of digits works.
func compareNumeric(a, b string) int {
	na, nb := leadingDigits(a), leadingDigits(b)
	switch {
	case na == "" && nb == "":
		return 0
	case na == "":
		return 1
	case nb == "":
		return -1
	}
	// Trimmed zeros leave "" for zero, which still orders first.
	na, nb = strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
	if len(na) != len(nb) {
		if len(na) < len(nb) {
			return -1
		}
		return 1
	}
	return strings.Compare(na, nb)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == 0 {
		return ""
	}
	return s[:i]
}

// matchAll applies the matcher to all values of a test: :count compares
// the number of values, everything else matches each value (RFC 5231 4.1).
// The keys are expanded first (RFC 5229).
func (m *matcher) matchAll(r *run, values []string) (bool, error) {
	keys := r.xs(m.keys)
	if m.flags && r.vars {
		keys = normFlags(keys)
	}
	if m.mt == mtCount {
		n := strconv.Itoa(len(values))
		for _, k := range keys {
			if err := r.charge(int64(len(k) + 1)); err != nil {
				return false, err
			}
			if m.rel.holds(m.cmp.compare(n, k)) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, v := range values {
		if ok, err := m.match(r, keys, v); ok || err != nil {
			return ok, err
		}
	}
	return false, nil
}
