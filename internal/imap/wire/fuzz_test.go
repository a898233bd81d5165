package wire

import (
	"bufio"
	"bytes"
	"io"
	"testing"
)

// FuzzParser drives the parser over arbitrary input the way handlers do:
// a tag, a command name, then whatever argument the next byte suggests.
// It must never panic, never read a literal beyond its bounds, and always
// make progress.
func FuzzParser(f *testing.F) {
	for _, s := range []string{
		"a LOGIN bob \"pa ss\"\r\n",
		"a APPEND INBOX (\\Seen $x) \" 6-May-2024 07:08:09 +0200\" {5}\r\nhello\r\n",
		"a APPEND INBOX ~{3+}\r\na\x00b\r\n",
		"a FETCH 1:*,$,7 (BODY.PEEK[1.2.MIME]<0.10> FLAGS)\r\n",
		"a SEARCH OR (FROM x) NOT SINCE 1-Feb-2020 {3}\r\nabc\r\n",
		"a LIST (SUBSCRIBED) \"\" (% *x] INBOX)\r\n",
		"a ID (\"name\" NIL)\r\n",
		"a LOGIN {99999999999999999999}\r\n",
		"a LOGIN {5+}\r\nab",
		"a \"unterminated\r\n",
		"((((((((((((((((((((((((((((((((((((x\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := NewParser(bufio.NewReaderSize(bytes.NewReader(data), 16),
			Limits{MaxLine: 256, MaxLiteral: 64, MaxTokens: 64, MaxDepth: 8, MaxSkip: 128})
		p.Continue = func() error { return nil }
		for cmds := 0; cmds < 100; cmds++ {
			if err := p.Begin(); err != nil {
				return
			}
			if _, err := p.Tag(); err != nil {
				if IsFatal(err) {
					return
				}
				continue
			}
			for steps := 0; ; steps++ {
				if steps > 1000 {
					t.Fatalf("no progress on %q", data)
				}
				if p.AtEnd() {
					if err := p.End(); err != nil {
						t.Fatalf("End at end: %v", err)
					}
					break
				}
				if err := step(p); err != nil {
					if IsFatal(err) {
						return
					}
					break // Begin skips the rest
				}
			}
		}
	})
}

// step parses one token of a kind chosen by what comes next.
func step(p *Parser) error {
	if size, _, _, ok := p.PeekLiteral(); ok {
		r, n, _, err := p.Literal(64)
		if err != nil {
			return err
		}
		got, err := io.Copy(io.Discard, r)
		if err == nil && (got != n || n != size) {
			panic("literal length mismatch")
		}
		return err
	}
	c, ok := p.Peek()
	if !ok {
		return p.SP() // an error: neither end nor a token
	}
	var err error
	switch {
	case c == ' ':
		err = p.SP()
	case c == '(':
		_, err = p.FlagList()
		if err != nil {
			err = p.Expect('(')
		}
	case c == ')':
		err = p.Expect(')')
	case c == '"':
		if _, err = p.DateTime(); err != nil {
			_, err = p.Quoted()
		}
	case c >= '0' && c <= '9' || c == '*' || c == '$':
		if _, err = p.SeqSet(); err != nil {
			_, err = p.Number64()
		}
	case c == '\\':
		_, err = p.Flag()
	case c == '%' || c == ']':
		_, err = p.ListMailbox()
	default:
		if p.AcceptFold("NIL") {
			return nil
		}
		if _, err = p.AtomStop("[.<"); err == nil {
			return nil
		}
		_, err = p.AString()
	}
	return err
}
