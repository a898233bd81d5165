package sieve

import (
	"fmt"
	"regexp"
)

// The :regex match type (draft-ietf-sieve-regex-01). Patterns are Go's
// RE2 syntax, which covers the POSIX extended syntax the draft names
// except back-references (RE2 refuses them); RE2 runs in time linear in
// the value, so no pattern can backtrack catastrophically. A pattern is
// compiled when the script is, unless it references a variable: then when
// the test runs, at most maxRunRegexps distinct ones per run. Patterns are
// bounded to maxRegexLen octets. i;ascii-casemap matches without regard to
// case ((?i)), i;octet exactly; i;ascii-numeric is refused.

const (
	maxRegexLen   = 4096
	maxRunRegexps = 64
)

func compileRegex(key string, cmp comparator) (*regexp.Regexp, error) {
	if len(key) > maxRegexLen {
		return nil, fmt.Errorf("regular expression longer than %d octets", maxRegexLen)
	}
	if cmp == cmpCasemap {
		key = "(?i)" + key
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	return re, nil
}

// compileRegexKeys compiles the constant keys of a :regex matcher.
func (c *compiler) compileRegexKeys(m *matcher, a *argv, keyArg Arg) error {
	if m.cmp == cmpNumeric {
		return errAt(a.tags["regex"].Pos, "%s: :regex does not work with i;ascii-numeric", a.name)
	}
	m.res = make([]*regexp.Regexp, len(m.keys))
	for i, k := range m.keys {
		if c.req["variables"] && hasVarRef(k) {
			continue
		}
		re, err := compileRegex(k, m.cmp)
		if err != nil {
			return errAt(keyArg.Pos, "%s: %v", a.name, err)
		}
		m.res[i] = re
	}
	return nil
}

// regexp returns the compiled key i, whose expanded text is k: the one
// compiled with the script when the key is still as written (expansion
// or hasflag's splitting of flag lists can change it).
func (m *matcher) regexp(r *run, i int, k string) (*regexp.Regexp, error) {
	if i < len(m.res) && m.res[i] != nil && i < len(m.keys) && m.keys[i] == k {
		return m.res[i], nil
	}
	if re, ok := r.regexps[k]; ok {
		return re, nil
	}
	if len(r.regexps) >= maxRunRegexps {
		return nil, fmt.Errorf("more than %d regular expressions built at run time", maxRunRegexps)
	}
	if err := r.charge(int64(len(k)+1) * 64); err != nil {
		return nil, err
	}
	re, err := compileRegex(k, m.cmp)
	if err != nil {
		return nil, err
	}
	if r.regexps == nil {
		r.regexps = map[string]*regexp.Regexp{}
	}
	r.regexps[k] = re
	return re, nil
}
