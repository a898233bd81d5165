package store

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestUIDLs(t *testing.T) {
	for u, want := range map[string]bool{
		"": false, "a": true, strings.Repeat("x", 70): true, strings.Repeat("x", 71): false,
		"a b": false, "a\x7f": false, "~!": true,
	} {
		if got := ValidUIDL(u); got != want {
			t.Errorf("ValidUIDL(%q) = %v, want %v", u, got, want)
		}
	}
	inbox := Mailbox{ID: 7, Name: InboxName, UIDValidity: 0x1234}
	if got := UIDL(inbox, 10); got != "000012340000000a" {
		t.Errorf("INBOX UIDL = %q", got)
	}
	if got := UIDL(Mailbox{ID: 7, Name: "Sent"}, 10); got != "m7.10" {
		t.Errorf("Sent UIDL = %q", got)
	}
	if got := UIDLVariant("m7.10", 2); got != "m7.10-2" || !ValidUIDL(UIDLVariant(InboxUIDL(1<<32-1, 1<<32-1), MaxUIDLVariants)) {
		t.Errorf("UIDLVariant = %q", got)
	}
}

func TestMailboxNames(t *testing.T) {
	for name, want := range map[string]string{
		"inbox": "INBOX", "Inbox/Lists": "INBOX/Lists", "Работа": "Работа", "a/b": "a/b",
		"": "", "a//b": "", "/a": "", "a/": "", "a*": "", "a%b": "", "a\tb": "", "\xff": "",
		strings.Repeat("n", MaxMailboxName+1): "",
	} {
		got, err := CheckMailboxName(name)
		if want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("CheckMailboxName(%q) = %q, %v; want ErrInvalid", name, got, err)
			}
		} else if got != want || err != nil {
			t.Errorf("CheckMailboxName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func TestFlags(t *testing.T) {
	if got := FormatFlags([]string{"\\seen", "$Work", "\\Seen", "bad flag", "", "\\DELETED"}); got != `$Work \Deleted \Seen` {
		t.Errorf("FormatFlags = %q", got)
	}
	if got := ParseFlags(""); got != nil {
		t.Errorf("ParseFlags(\"\") = %q", got)
	}
	cur := ParseFlags(`$Work \Seen`)
	for _, tt := range []struct {
		op   FlagOp
		want string
	}{{FlagsSet, `\Flagged`}, {FlagsAdd, `$Work \Flagged \Seen`}, {FlagsRemove, `$Work \Seen`}} {
		if got := ApplyFlags(cur, tt.op, []string{`\flagged`}); got != tt.want {
			t.Errorf("ApplyFlags(%d) = %q, want %q", tt.op, got, tt.want)
		}
	}
	if got := ApplyFlags(cur, FlagsRemove, []string{`$work`}); got != `\Seen` {
		t.Errorf("removing $work = %q", got)
	}
}

func TestUIDRanges(t *testing.T) {
	got := UIDRanges([]uint32{9, 1, 2, 3, 3, 7, 8, 1<<32 - 1})
	want := []UIDRange{{1, 3}, {7, 9}, {1<<32 - 1, 1<<32 - 1}}
	if !slices.Equal(got, want) {
		t.Errorf("UIDRanges = %v, want %v", got, want)
	}
}

func TestCopyBody(t *testing.T) {
	var out bytes.Buffer
	info, err := CopyBody(&out, iotest.OneByteReader(strings.NewReader("a\n.b\rc\r\n")), false)
	if err != nil || out.String() != "a\r\n.b\r\nc\r\n" || info.Size != int64(out.Len()) || !info.DotLines {
		t.Errorf("CopyBody = %q, %+v, %v", out.String(), info, err)
	}
	out.Reset()
	info, err = CopyBody(&out, strings.NewReader("a\nb"), true)
	if err != nil || out.String() != "a\nb" || info.Size != 3 || !info.DotLines {
		t.Errorf("raw CopyBody = %q, %+v, %v", out.String(), info, err)
	}
	boom := errors.New("boom")
	for _, raw := range []bool{false, true} {
		_, err = CopyBody(io.Discard, io.MultiReader(strings.NewReader("x"), iotest.ErrReader(boom)), raw)
		var re ReadError
		if !errors.As(err, &re) || !errors.Is(err, boom) {
			t.Errorf("raw=%v: reader failure = %v, want a ReadError", raw, err)
		}
	}
}

func TestFlagUpdate(t *testing.T) {
	m := Message{UID: 7, Flags: []string{"$Label", `\Seen`}, ModSeq: 10}
	for _, c := range []struct {
		name              string
		u                 FlagUpdate
		next              string
		changed, modified bool
	}{
		{"add new", NewFlagUpdate(FlagsAdd, []string{`\flagged`}, false, 0), `$Label \Flagged \Seen`, true, false},
		{"add present", NewFlagUpdate(FlagsAdd, []string{`\SEEN`}, false, 0), `$Label \Seen`, false, false},
		{"remove, any case", NewFlagUpdate(FlagsRemove, []string{`$label`}, false, 0), `\Seen`, true, false},
		{"set the same", NewFlagUpdate(FlagsSet, []string{`\Seen`, "$Label", `\Seen`}, false, 0), `$Label \Seen`, false, false},
		{"unchanged since", NewFlagUpdate(FlagsSet, nil, true, 10), "", true, false},
		{"changed since", NewFlagUpdate(FlagsSet, nil, true, 9), "", false, true},
	} {
		next, changed, modified := c.u.Apply(m)
		if next != c.next || changed != c.changed || modified != c.modified {
			t.Errorf("%s: (%q, %v, %v), want (%q, %v, %v)", c.name, next, changed, modified, c.next, c.changed, c.modified)
		}
	}
}
