package maildir

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
)

// The list as Courier's pop3d (1.0.16, Debian 12) wrote it: version 3,
// next UID, UIDVALIDITY, then FILENAME SIZE UID:UIDVALIDITY:UTF8.
const courierList = "/3 4 1796087162\n" +
	"1700000001.M1P1.host:2, 65 1:1796087162:0\n" +
	"1700000002.M2P1.host:2,S 65 2:1796087162:0\n" +
	"1700000003.M3P1.host:2, 65 3:1796087162:0\n"

func TestParseCourierPOP3List(t *testing.T) {
	l, err := ParseCourierPOP3List(strings.NewReader(courierList), "f")
	if err != nil {
		t.Fatal(err)
	}
	if l.Version != 3 || l.NextUID != 4 || l.UIDValidity != 1796087162 || len(l.Entries) != 3 ||
		l.Entries["1700000002.M2P1.host"] != "UID2-1796087162" {
		t.Errorf("%+v", l)
	}
	// Version 2 (no UTF-8 field), a zero UIDVALIDITY, a line Courier skips.
	l, err = ParseCourierPOP3List(strings.NewReader("/2 3 0\na:2,S 10 1:0\nbroken line\nb 12 2:0\n"), "f")
	if err != nil {
		t.Fatal(err)
	}
	if l.Entries["a"] != "UID1" || l.Entries["b"] != "UID2" || len(l.Skipped) != 1 || l.Skipped[0].Line != 3 {
		t.Errorf("%+v", l)
	}
	for _, bad := range []string{"", "a 1\n", "/1 3 4\n", "/3 x 4\n", "/3 4 y\n"} {
		if _, err := ParseCourierPOP3List(strings.NewReader(bad), "f"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// ReadFolder takes Courier's POP3 UIDLs from courierpop3dsizelist and
// gives a message the list lacks the one Courier would: the next UID, in
// Courier's order of file names (the leading number, then the name).
func TestReadFolderCourierPOP3(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	write(t, filepath.Join(dir, "courierpop3dsizelist"), courierList, time.Time{})
	for _, n := range []string{"1700000001.M1P1.host:2,", "1700000002.M2P1.host:2,S", "1700000003.M3P1.host:2,"} {
		write(t, filepath.Join(dir, "cur", n), "x", time.Time{})
	}
	write(t, filepath.Join(dir, "new", "1700000009.M9P1.host"), "later", time.Time{})
	write(t, filepath.Join(dir, "new", "1700000005.M5P1.host"), "earlier", time.Time{})
	f, err := ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range f.Messages {
		got[ParseName(filepath.Base(m.Path)).Base] = m.UIDL
	}
	want := map[string]string{"1700000001.M1P1.host": "UID1-1796087162", "1700000002.M2P1.host": "UID2-1796087162",
		"1700000003.M3P1.host": "UID3-1796087162", "1700000005.M5P1.host": "UID4-1796087162",
		"1700000009.M9P1.host": "UID5-1796087162"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: UIDL %q, want %q", k, got[k], v)
		}
	}
	// A list Courier ignores (before 0.43: file names, no header) is
	// reported, and no UIDL is taken from it.
	write(t, filepath.Join(dir, "courierpop3dsizelist"), "1700000001.M1P1.host 65\n", time.Time{})
	f, err = ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if err != nil || len(f.Warnings) != 1 || f.Messages[0].UIDL != "" {
		t.Errorf("old-format list: %v, warnings %v, first UIDL %q", err, f.Warnings, f.Messages[0].UIDL)
	}
}

func FuzzParseCourierPOP3List(f *testing.F) {
	f.Add(courierList)
	f.Add("/2 3 0\na:2,S 10 1:0\nbroken line\nb 12 2:0\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseCourierPOP3List(strings.NewReader(in), "f")
		if err != nil {
			var pe *migrate.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a ParseError: %v", err)
			}
			return
		}
		for name, uidl := range l.Entries {
			if name == "" || strings.Contains(name, ":2,") || !strings.HasPrefix(uidl, "UID") || strings.ContainsAny(uidl, " \n") {
				t.Fatalf("entry %q -> %q", name, uidl)
			}
		}
	})
}
