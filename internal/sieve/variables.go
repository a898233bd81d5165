package sieve

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Variables (RFC 5229). Variables live in the run: names are matched
// case-insensitively, values are bounded (Limits.MaxVariableSize, cut at a
// character boundary), their number too (Limits.MaxVariables), and so is a
// string after expansion (Limits.MaxString). Expansion happens when a
// command or test runs, on every string argument except the names of
// comparators, match types and relations, and the extensions of require;
// it is not recursive.

// hasVarRef reports whether s may reference a variable.
func hasVarRef(s string) bool { return strings.Contains(s, "${") }

// isIdentifier reports whether s is an RFC 5229 identifier:
// (ALPHA / "_") *(ALPHA / DIGIT / "_").
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && isDigit(c)) {
			return false
		}
	}
	return true
}

// x expands the variable references in s (RFC 5229 section 3). A
// reference to an unknown variable expands to ""; text that is not a
// reference (a bad name, a namespace we do not know) stays as written.
func (r *run) x(s string) string {
	if !r.vars || !hasVarRef(s) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+2 : i+end]
		v, ok := r.lookup(name)
		if !ok {
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(v)
		s = s[i+end+1:]
		if b.Len() > r.lim.MaxString {
			break
		}
	}
	out := b.String()
	r.steps += int64(len(out)) // bounded by MaxSteps at the next charge
	return truncUTF8(out, r.lim.MaxString)
}

// xs expands every string of a list; the list itself is returned when no
// string has a reference.
func (r *run) xs(list []string) []string {
	if !r.vars {
		return list
	}
	var out []string
	for i, s := range list {
		if out == nil && !hasVarRef(s) {
			continue
		}
		if out == nil {
			out = append(make([]string, 0, len(list)), list[:i]...)
		}
		out = append(out, r.x(s))
	}
	if out == nil {
		return list
	}
	return out
}

// lookup returns a variable's value. ok is false when name is not a
// variable reference at all (it is then left unexpanded).
func (r *run) lookup(name string) (string, bool) {
	if name != "" && strings.Trim(name, "0123456789") == "" {
		n := strings.TrimLeft(name, "0")
		if len(n) > 1 {
			return "", true
		}
		i := 0
		if n != "" {
			i = int(n[0] - '0')
		}
		if i >= len(r.match) {
			return "", true
		}
		return r.match[i], true
	}
	if !isIdentifier(name) {
		return "", false
	}
	return r.varValues[foldASCII(name)], true
}

// setVar assigns a variable, within the limits.
func (r *run) setVar(name, value string) error {
	name = foldASCII(name)
	if _, ok := r.varValues[name]; !ok {
		if len(r.varValues) >= r.lim.MaxVariables {
			return errTooManyVars
		}
		if r.varValues == nil {
			r.varValues = map[string]string{}
		}
	}
	r.varValues[name] = truncUTF8(value, r.lim.MaxVariableSize)
	return nil
}

var errTooManyVars = &Error{Msg: "too many variables"}

// setMatch records the match variables of a successful match (RFC 5229
// 3.2): ${0} is the whole value, ${1}... what each wildcard or group
// matched; at most 10 are kept.
func (r *run) setMatch(groups []string) {
	if len(groups) > 10 {
		groups = groups[:10]
	}
	r.match = r.match[:0]
	for _, g := range groups {
		r.match = append(r.match, truncUTF8(g, r.lim.MaxVariableSize))
	}
}

// truncUTF8 cuts s to at most n octets without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// setNode is "set [MODIFIER] <name: string> <value: string>" (RFC 5229 4).
type setNode struct {
	name  string
	value string
	mods  []string // in the order they apply
}

// setModifiers are the modifiers of set with their precedence (RFC 5229
// 4.1); :quoteregex is draft-ietf-sieve-regex's.
var setModifiers = map[string]int{"lower": 40, "upper": 40, "lowerfirst": 30, "upperfirst": 30,
	"quotewildcard": 20, "quoteregex": 20, "length": 10}

func (c *compiler) set(cmd *Command) (node, error) {
	if err := c.need("variables", cmd.Pos, "set"); err != nil {
		return nil, err
	}
	spec := map[string]tagSpec{}
	for m, prec := range setModifiers {
		ts := tagSpec{group: strconv.Itoa(prec)}
		if m == "quoteregex" {
			ts.ext = "regex"
		}
		spec[m] = ts
	}
	a, err := c.split("set", cmd.Pos, cmd.Args, spec, 2)
	if err != nil {
		return nil, err
	}
	name, err := a.string(0)
	if err != nil {
		return nil, err
	}
	if !isIdentifier(name) {
		// Includes namespaced names (RFC 5229 3): we support none.
		return nil, errAt(a.positional[0].Pos, "set: invalid variable name %q", name)
	}
	value, err := a.string(1)
	if err != nil {
		return nil, err
	}
	n := &setNode{name: name, value: value}
	for _, prec := range []int{40, 30, 20, 10} {
		for m, p := range setModifiers {
			if p == prec && a.has(m) {
				n.mods = append(n.mods, m)
			}
		}
	}
	return n, nil
}

func (n *setNode) exec(r *run) error {
	v := r.x(n.value)
	for _, m := range n.mods {
		v = modify(m, v)
	}
	if err := r.charge(int64(len(v) + 1)); err != nil {
		return err
	}
	return r.setVar(n.name, v)
}

// modify applies one set modifier.
func modify(m, v string) string {
	switch m {
	case "lower":
		return strings.ToLower(v)
	case "upper":
		return strings.ToUpper(v)
	case "lowerfirst", "upperfirst":
		c, size := utf8.DecodeRuneInString(v)
		if size == 0 {
			return v
		}
		if m == "lowerfirst" {
			c = unicode.ToLower(c)
		} else {
			c = unicode.ToUpper(c)
		}
		return string(c) + v[size:]
	case "quotewildcard":
		return quote(v, `*?\`)
	case "quoteregex":
		return quote(v, `\.+*?()[]{}|^$`)
	case "length":
		return strconv.Itoa(utf8.RuneCountInString(v))
	}
	return v
}

func quote(v, special string) string {
	if !strings.ContainsAny(v, special) {
		return v
	}
	var b strings.Builder
	for _, c := range v {
		if strings.ContainsRune(special, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// stringTest is "string [MATCH-TYPE] [COMPARATOR] <source> <keys>"
// (RFC 5229 5). For :count, an empty string counts as none.
type stringTest struct {
	source []string
	m      *matcher
}

func (t *stringTest) eval(r *run) (bool, error) {
	vals := r.xs(t.source)
	if t.m.mt == mtCount {
		var nonEmpty []string
		for _, v := range vals {
			if v != "" {
				nonEmpty = append(nonEmpty, v)
			}
		}
		vals = nonEmpty
	}
	return t.m.matchAll(r, vals)
}
