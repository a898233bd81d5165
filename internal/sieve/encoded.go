package sieve

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeEncoded expands "${hex:...}" and "${unicode:...}" in s
// (RFC 5228 2.4.2.4, extension "encoded-character"). A sequence that does
// not follow the grammar is left as written; a Unicode value outside the
// scalar ranges is an error.
func decodeEncoded(s string) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexByte(s, '}')
		kind, body, ok := strings.Cut(s[2:max(end, 2)], ":")
		if end < 0 || !ok {
			b.WriteString("${")
			s = s[2:]
			continue
		}
		out, valid, err := decodeSeq(strings.ToLower(kind), body)
		if err != nil {
			return "", err
		}
		if !valid {
			b.WriteString("${")
			s = s[2:]
			continue
		}
		b.WriteString(out)
		s = s[end+1:]
	}
}

// decodeSeq decodes the blank-separated hex values of one sequence.
func decodeSeq(kind, body string) (string, bool, error) {
	if kind != "hex" && kind != "unicode" {
		return "", false, nil
	}
	fields := strings.FieldsFunc(body, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
	if len(fields) == 0 {
		return "", false, nil
	}
	var b strings.Builder
	for _, f := range fields {
		if kind == "hex" && len(f) > 2 {
			return "", false, nil
		}
		if strings.Trim(f, "0123456789abcdefABCDEF") != "" {
			return "", false, nil
		}
		v, err := strconv.ParseUint(f, 16, 64)
		if err != nil { // all hex digits, so too large
			v = utf8.MaxRune + 1
		}
		if kind == "hex" {
			b.WriteByte(byte(v))
			continue
		}
		if v > utf8.MaxRune || v >= 0xD800 && v <= 0xDFFF {
			return "", false, errAt(Pos{}, "encoded character %q out of range", f)
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, nil
}

// decodeArgs applies decodeEncoded to every string of a command or test,
// recursively, fixing the position of any error to the string's argument.
func decodeArgs(args []Arg, tests []*Test) error {
	for i := range args {
		for j, s := range args[i].Strs {
			d, err := decodeEncoded(s)
			if err != nil {
				e := err.(*Error)
				e.Pos = args[i].Pos
				return e
			}
			args[i].Strs[j] = d
		}
	}
	for _, t := range tests {
		if err := decodeArgs(t.Args, t.Tests); err != nil {
			return err
		}
	}
	return nil
}
