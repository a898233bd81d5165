package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func newTestParser(in string) (*Parser, *int) {
	conts := 0
	p := NewParser(bufio.NewReaderSize(strings.NewReader(in), 16), Limits{MaxLine: 200, MaxLiteral: 100, MaxTokens: 50, MaxDepth: 4, MaxSkip: 1000})
	p.Continue = func() error { conts++; return nil }
	return p, &conts
}

// parseLogin parses "tag LOGIN astring astring".
func parseLogin(p *Parser) ([]string, error) {
	if err := p.Begin(); err != nil {
		return nil, err
	}
	tag, err := p.Tag()
	if err != nil {
		return nil, err
	}
	out := []string{tag}
	if err := p.SP(); err != nil {
		return out, err
	}
	name, err := p.Atom()
	if err != nil {
		return out, err
	}
	out = append(out, name)
	for !p.AtEnd() {
		if err := p.SP(); err != nil {
			return out, err
		}
		s, err := p.AString()
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, p.End()
}

func TestAStrings(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  string
		conts int
		err   string
	}{
		{in: "a LOGIN bob secret\r\n", want: "a|LOGIN|bob|secret"},
		{in: "a LOGIN \"b o\\\"b\" \"s\\\\\"\r\n", want: `a|LOGIN|b o"b|s\`},
		{in: "a LOGIN {3}\r\nbob {6+}\r\nsecret\r\n", want: "a|LOGIN|bob|secret", conts: 1},
		{in: "a LOGIN ~{3}\r\nbob x\r\n", want: "a|LOGIN|bob|x", conts: 1},
		{in: "a LOGIN {0}\r\n \"\"\r\n", want: "a|LOGIN||", conts: 1},
		{in: "a LOGIN bob] x\n", want: "a|LOGIN|bob]|x"},
		{in: "a LOGIN \"caf\xc3\xa9\" x\r\n", want: "a|LOGIN|caf\xc3\xa9|x"},
		{in: "a LOGIN \"\xff\" x\r\n", err: "Invalid UTF-8"},
		{in: "a LOGIN \"unterminated\r\n", err: "Unterminated"},
		{in: "a LOGIN \"bad\\escape\"\r\n", err: "Invalid escape"},
		{in: "a LOGIN  x\r\n", err: "Expected string"},
		{in: "a LOGIN (x\r\n", err: "Expected string"},
		{in: "a LOGIN {101}\r\n", err: "Literal too large", conts: 0},
		{in: "+ LOGIN\r\n", err: "tag"},
		{in: "a LOGIN {3}\r\nbo", err: "unexpected EOF", conts: 1},
		{in: "a LOGIN " + strings.Repeat("x", 300) + "\r\n", err: "Line too long"},
		{in: "a LOGIN x\x00y\r\n", err: "Expected"},
	} {
		p, conts := newTestParser(tc.in)
		got, err := parseLogin(p)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
		} else if err != nil {
			t.Errorf("%q: %v", tc.in, err)
		} else if strings.Join(got, "|") != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, strings.Join(got, "|"), tc.want)
		}
		if *conts != tc.conts {
			t.Errorf("%q: %d continuations, want %d", tc.in, *conts, tc.conts)
		}
	}
}

// An oversized synchronising literal is refused at once: its data never
// comes, and the next line is a new command.
func TestTooBigSyncLiteral(t *testing.T) {
	p, conts := newTestParser("a LOGIN {999999999}\r\nb NOOP\r\n")
	_, err := parseLogin(p)
	var we *Error
	if !errors.As(err, &we) || !we.No || we.Code != "TOOBIG" || we.Fatal {
		t.Fatalf("err %#v", err)
	}
	if *conts != 0 {
		t.Fatal("continuation sent for a refused literal")
	}
	if err := p.SkipCommand(); err != nil {
		t.Fatal(err)
	}
	got, err := parseLogin(p)
	if err != nil || strings.Join(got, "|") != "b|NOOP" {
		t.Fatalf("next command %q %v", got, err)
	}
	// A non-synchronising one cannot be skipped: the session ends.
	p, _ = newTestParser("a LOGIN {999999999+}\r\n")
	if _, err := parseLogin(p); !IsFatal(err) {
		t.Fatalf("err %v, want fatal", err)
	}
}

// After a syntax error, SkipCommand discards non-synchronising literals
// and stops at a synchronising one.
func TestSkipCommand(t *testing.T) {
	p, _ := newTestParser("a LOGIN ( {3+}\r\nabc {4+}\r\nx\r\ny \"z\"\r\nb NOOP\r\n")
	if _, err := parseLogin(p); err == nil {
		t.Fatal("no error")
	}
	if err := p.SkipCommand(); err != nil {
		t.Fatal(err)
	}
	got, err := parseLogin(p)
	if err != nil || strings.Join(got, "|") != "b|NOOP" {
		t.Fatalf("next command %q %v", got, err)
	}
	p, _ = newTestParser("a LOGIN ( {3}\r\nb NOOP\r\n")
	if _, err := parseLogin(p); err == nil {
		t.Fatal("no error")
	}
	got, err = parseLogin(p) // Begin skips
	if err != nil || strings.Join(got, "|") != "b|NOOP" {
		t.Fatalf("next command %q %v", got, err)
	}
	// Skipping more than MaxSkip ends the session.
	p, _ = newTestParser("a LOGIN ( {999+}\r\n" + strings.Repeat("x", 999) + " {9+}\r\n")
	_, _ = parseLogin(p)
	if err := p.SkipCommand(); !IsFatal(err) {
		t.Fatalf("err %v", err)
	}
}

func TestStreamedLiteral(t *testing.T) {
	body := strings.Repeat("0123456789", 50)
	p, conts := newTestParser("a APPEND INBOX {500}\r\n" + body + "\r\nb APPEND x ~{5+}\r\nab\x00cd {2}\r\nok\r\n")
	lit := func() (string, bool, error) {
		if err := p.Begin(); err != nil {
			return "", false, err
		}
		_, _ = p.Tag()
		_ = p.SP()
		_, _ = p.Atom()
		_ = p.SP()
		_, _ = p.AString()
		_ = p.SP()
		r, n, bin, err := p.Literal(600)
		if err != nil {
			return "", false, err
		}
		b, err := io.ReadAll(r)
		if err == nil && int64(len(b)) != n {
			t.Fatalf("read %d of %d", len(b), n)
		}
		return string(b), bin, err
	}
	got, bin, err := lit()
	if err != nil || got != body || bin {
		t.Fatalf("got %q %v %v", got, bin, err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	got, bin, err = lit()
	if err != nil || got != "ab\x00cd" || !bin {
		t.Fatalf("got %q %v %v", got, bin, err)
	}
	// Then a second literal in the same command.
	if err := p.SP(); err != nil {
		t.Fatal(err)
	}
	if s, err := p.AString(); err != nil || s != "ok" {
		t.Fatal(s, err)
	}
	if err := p.End(); err != nil {
		t.Fatal(err)
	}
	if *conts != 2 {
		t.Fatalf("%d continuations", *conts)
	}

	// Cut short: the reader fails, nothing pretends to be complete.
	p, _ = newTestParser("a APPEND INBOX {500}\r\n" + body[:484])
	_, _, err = lit()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v", err)
	}
	// Too big for the streaming bound.
	p, _ = newTestParser("a APPEND INBOX {601}\r\n")
	_, _, err = lit()
	var we *Error
	if !errors.As(err, &we) || we.Code != "TOOBIG" || !we.No {
		t.Fatalf("err %v", err)
	}
}

func TestSeqSet(t *testing.T) {
	for in, want := range map[string]string{
		"1": "1", "1:3,5": "1:3,5", "*": "*", "3:*": "3:*", "$": "$", "4294967295": "4294967295",
		"0": "err", "1:": "err", "4294967296": "err", ",1": "err", "a": "err",
	} {
		p, _ := newTestParser(in + "\r\n")
		_ = p.Begin()
		s, err := p.SeqSet()
		got := s.String()
		if err == nil && !p.AtEnd() {
			err = errors.New("trailing")
		}
		if err != nil {
			got = "err"
		}
		if got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	p, _ := newTestParser("5:*,1\r\n")
	_ = p.Begin()
	s, _ := p.SeqSet()
	for n, want := range map[uint32]bool{1: true, 2: false, 3: true, 4: true} {
		if s.Contains(n, 3) != want { // 5:* with 3 messages is 3:5
			t.Errorf("contains %d", n)
		}
	}
	if FormatNums([]uint32{1, 2, 3, 7, 9, 10}) != "1:3,7,9:10" || FormatNums(nil) != "" {
		t.Error("FormatNums")
	}
}

func TestDates(t *testing.T) {
	p, _ := newTestParser("\"06-May-2024 07:08:09 +0200\" \" 6-May-2024 07:08:09 -0000\" 1-Feb-2020 \"01-Feb-2020\" \"1-Foo-2020\"\r\n")
	_ = p.Begin()
	d, err := p.DateTime()
	if err != nil || !d.Equal(time.Date(2024, 5, 6, 5, 8, 9, 0, time.UTC)) {
		t.Fatal(d, err)
	}
	_ = p.SP()
	if _, err := p.DateTime(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = p.SP()
		if d, err := p.Date(); err != nil || !d.Equal(time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)) {
			t.Fatal(d, err)
		}
	}
	_ = p.SP()
	if _, err := p.Date(); err == nil {
		t.Fatal("bad month accepted")
	}
}

func TestNestingAndTokens(t *testing.T) {
	p, _ := newTestParser("(((((x)))))\r\n")
	_ = p.Begin()
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		err = p.Expect('(')
	}
	if err == nil || !strings.Contains(err.Error(), "nested") {
		t.Fatalf("err %v", err)
	}
	p, _ = newTestParser(strings.Repeat("a ", 60) + "\r\n")
	_ = p.Begin()
	for err = nil; err == nil; {
		_, err = p.Atom()
		if err == nil {
			err = p.SP()
		}
	}
	if !strings.Contains(err.Error(), "Too many") {
		t.Fatalf("err %v", err)
	}
}

func TestFlagsAndFold(t *testing.T) {
	p, _ := newTestParser("(\\Seen $Junk \\*) FLAGS.SILENT NIL x\r\n")
	_ = p.Begin()
	f, err := p.FlagList()
	if err != nil || strings.Join(f, ",") != `\Seen,$Junk,\*` {
		t.Fatal(f, err)
	}
	_ = p.SP()
	if p.AcceptFold("flags") {
		t.Fatal("FLAGS matched a prefix of FLAGS.SILENT")
	}
	if !p.AcceptPrefixFold("flags") || !p.AcceptFold(".silent") {
		t.Fatal("prefix")
	}
	_ = p.SP()
	if _, isNil, err := p.NString(); !isNil || err != nil {
		t.Fatal("NIL")
	}
}

// MaxCommand bounds what one command holds across segments and literals:
// a synchronising literal that would pass it is refused before its "+",
// a non-synchronising one or a segment ends the session; a segment that
// cannot be read after a literal is reported as what it is, not as a
// syntax error.
func TestMaxCommand(t *testing.T) {
	limits := Limits{MaxLine: 200, MaxLiteral: 100, MaxTokens: 50, MaxDepth: 4, MaxCommand: 120, MaxSkip: 1000}
	parser := func(in string) (*Parser, *int) {
		p, conts := newTestParser(in)
		p.SetLimits(limits)
		return p, conts
	}
	lit := strings.Repeat("x", 60)
	p, conts := parser("a LOGIN {60}\r\n" + lit + " {60}\r\nb NOOP\r\n")
	_, err := parseLogin(p)
	var we *Error
	if !errors.As(err, &we) || !we.No || we.Code != "TOOBIG" || we.Fatal || *conts != 1 {
		t.Fatalf("second literal over MaxCommand: %#v (%d continuations)", err, *conts)
	}
	if err := p.SkipCommand(); err != nil {
		t.Fatal(err)
	}
	if got, err := parseLogin(p); err != nil || strings.Join(got, "|") != "b|NOOP" {
		t.Fatalf("next command %q %v", got, err)
	}
	// Under the bound, and the next command starts afresh.
	p, _ = parser("a LOGIN {60}\r\n" + lit + " y\r\nb LOGIN {60}\r\n" + lit + " y\r\n")
	for range 2 {
		if got, err := parseLogin(p); err != nil || len(got) != 4 {
			t.Fatalf("under MaxCommand: %q %v", got, err)
		}
	}
	p, _ = parser("a LOGIN {60+}\r\n" + lit + " {60+}\r\n" + lit + "\r\n")
	if _, err := parseLogin(p); !IsFatal(err) {
		t.Fatalf("non-synchronising literal over MaxCommand: %v, want fatal", err)
	}
	p, _ = parser("a LOGIN " + lit + " {0+}\r\n " + lit + lit + "\r\n")
	if _, err := parseLogin(p); !IsFatal(err) {
		t.Fatalf("segment over MaxCommand: %v, want fatal", err)
	}
	p, _ = parser("a LOGIN {0+}\r\n " + strings.Repeat("y", 300) + "\r\n")
	if _, err := parseLogin(p); !IsFatal(err) {
		t.Fatalf("segment over MaxLine after a literal: %v, want fatal", err)
	}
}
