package maildir

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/store"
)

func parseFixture(t *testing.T, name string) *UIDList {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseUIDList(f, name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseUIDListFixtures(t *testing.T) {
	v3 := parseFixture(t, "dovecot-uidlist.v3")
	want3 := &UIDList{Version: 3, UIDValidity: 1764496800, UIDNext: 6, GUID: "3085f01b7f11094c501100008c4a11c1",
		Entries: map[string]*Entry{
			"1764496801.M20046P2137.mx.example.org,S=1000,W=1034": {UID: 1, VSize: 1034, Line: 2},
			"1764496802.M1P2.mx.example.org,S=480,W=500":          {UID: 2, UIDL: "00000001508d1f3e", VSize: 500, Line: 3},
			"1764496804.M1P4.mx.example.org,S=10":                 {UID: 4, UIDL: "2b3c", VSize: -1, Line: 4},
		}}
	if !reflect.DeepEqual(v3, want3) {
		t.Errorf("v3: %+v", v3)
	}
	v1 := parseFixture(t, "dovecot-uidlist.v1")
	if v1.Version != 1 || v1.UIDValidity != 1764496800 || v1.UIDNext != 3 || len(v1.Entries) != 2 ||
		v1.Entries["1764496802.M1P2.mx.example.org,S=480,W=500"].UID != 2 {
		t.Errorf("v1: %+v", v1)
	}
	c := parseFixture(t, "courierimapuiddb")
	if c.UIDValidity != 1100000000 || c.UIDNext != 10 || c.Entries["1099999999.12345_2.courier.example.org"].UID != 9 {
		t.Errorf("courier: %+v", c)
	}
}

func TestParseUIDListAppendedLines(t *testing.T) {
	// Dovecot appends entries without rewriting the header's next UID.
	l, err := ParseUIDList(strings.NewReader("3 V5 N3\n1 :a\n2 :b\n3 :c:2,S\n7 :d\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if l.UIDNext != 8 || l.Entries["c"].UID != 3 {
		t.Errorf("%+v", l)
	}
}

// TestParseUIDListBareP: Dovecot saves a bare "P" when the UIDL is the
// base file name (pop3_uidl_format %f); its pop3 shows the name.
func TestParseUIDListBareP(t *testing.T) {
	l, err := ParseUIDList(strings.NewReader("3 V5 N3\n1 P :17.M1P2.vm,S=67,W=72:2,S\n2 Pxy :b\n"), "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Entries["17.M1P2.vm,S=67,W=72"].UIDL; got != "17.M1P2.vm,S=67,W=72" {
		t.Errorf("bare P: UIDL %q", got)
	}
	if got := l.Entries["b"].UIDL; got != "xy" {
		t.Errorf("P with a value: UIDL %q", got)
	}
}

func TestParseUIDListErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "u: empty file"},
		{"2 5 6\n", `u:1: unsupported version "2" (1 and 3 are read)`},
		{"3 N5\n", "u:1: no V (UIDVALIDITY) in header"},
		{"3 Vx N5\n", "u:1: V (UIDVALIDITY) must be a nonzero number"},
		{"1 5\n", `u:1: version 1 header is "1 <uidvalidity> <nextuid>"`},
		{"3 V1 N5\n1 :a\n2 a\n", `u:3: no " :" before the file name`},
		{"3 V1 N5\n2 :a\n\n2 :b\n", "u:4: UID 2 does not ascend (after 2)"},
		{"1 1 5\n1 a\n2 a:2,S\n", `u:3: file "a" listed twice`},
		{"1 1 5\nx a\n", "u:2: entry does not start with a UID"},
		{"1 1 5\n1 \n", "u:2: no valid file name"},
		{"3 V1 N5\n1 :" + strings.Repeat("a", maxLine) + "\n", "u:2: line longer than 65536 bytes"},
	} {
		_, err := ParseUIDList(strings.NewReader(c.in), "u")
		var pe *migrate.ParseError
		if !errors.As(err, &pe) || err.Error() != c.want {
			t.Errorf("%.30q: %v, want %s", c.in, err, c.want)
		}
	}
}

func TestParseKeywords(t *testing.T) {
	f, err := os.Open("testdata/dovecot-keywords")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	kw, err := ParseKeywords(f, "k")
	if err != nil || kw[0] != "$Junk" || kw[2] != "$Label1" || kw[3] != "" {
		t.Errorf("%v %v", kw, err)
	}
	if _, err := ParseKeywords(strings.NewReader("0 a\n26 z\n"), "k"); err == nil || err.Error() != `k:2: want "<0-25> <keyword>", got "26 z"` {
		t.Errorf("err %v", err)
	}
}

func TestParseName(t *testing.T) {
	for in, want := range map[string]Name{
		"1764496801.M20046P2137.mx,S=1000,W=1034:2,FRS": {Base: "1764496801.M20046P2137.mx,S=1000,W=1034",
			Flags: []string{store.FlagAnswered, store.FlagFlagged, store.FlagSeen}, Time: 1764496801, Size: 1000},
		"1764496801.M1.mx:2,DTPac":     {Base: "1764496801.M1.mx", Flags: []string{store.FlagDeleted, store.FlagDraft}, Forwarded: true, Letters: "ac", Time: 1764496801, Size: -1},
		"1764496801.M1.mx:2,S,extra=1": {Base: "1764496801.M1.mx", Flags: []string{store.FlagSeen}, Time: 1764496801, Size: -1},
		"1764496801.M1.mx":             {Base: "1764496801.M1.mx", Time: 1764496801, Size: -1},
		"msg-without-time:2,":          {Base: "msg-without-time", Size: -1},
		"1.2.h:2,SSaa":                 {Base: "1.2.h", Flags: []string{store.FlagSeen}, Letters: "a", Time: 1, Size: -1},
	} {
		if got := ParseName(in); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", in, got, want)
		}
	}
}

// mkMaildir creates dir with cur, new and tmp.
func mkMaildir(t *testing.T, dir string) {
	t.Helper()
	for _, s := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func write(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFixture(t *testing.T, name, dst string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dst, string(b), time.Time{})
}

func TestFolders(t *testing.T) {
	root := t.TempDir()
	mkMaildir(t, root)
	for _, d := range []string{".Sent", ".Sent Items", ".Lists.foo", ".Lists", ".Entw&APw-rfe", ".junk", ".Archive.2025", ".bad&x-"} {
		mkMaildir(t, filepath.Join(root, d))
	}
	if err := os.Mkdir(filepath.Join(root, ".notafolder"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "subscriptions"), "Sent\n", time.Time{})
	refs, warns, err := Folders(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range refs {
		got = append(got, r.Name+"="+r.SpecialUse)
	}
	want := []string{"INBOX=", `Archive/2025=`, "Entwürfe=", "Lists=", "Lists/foo=", `Sent=\Sent`, `Sent Items=\Sent`, `junk=\Junk`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].Error(), ".bad&x-") {
		t.Errorf("warnings %v", warns)
	}
	if _, _, err := Folders(filepath.Join(root, ".notafolder")); err == nil {
		t.Error("a directory without cur/ was taken for a Maildir")
	}
}

func TestDecodeMUTF7(t *testing.T) {
	for in, want := range map[string]string{"Entw&APw-rfe": "Entwürfe", "a&-b": "a&b", "&ZeVnLIqe-": "日本語", "plain": "plain"} {
		if got, err := decodeMUTF7(in); err != nil || got != want {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"&APw", "&A-", "&AAA-", "&\r-", "a\tb"} {
		if _, err := decodeMUTF7(in); err == nil {
			t.Errorf("%s decoded", in)
		}
	}
}

func TestReadFolderDovecot(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	copyFixture(t, "dovecot-uidlist.v3", filepath.Join(dir, "dovecot-uidlist"))
	copyFixture(t, "dovecot-keywords", filepath.Join(dir, "dovecot-keywords"))
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	write(t, filepath.Join(dir, "cur", "1764496801.M20046P2137.mx.example.org,S=1000,W=1034:2,RSa"), "one", t0)
	write(t, filepath.Join(dir, "cur", "1764496802.M1P2.mx.example.org,S=480,W=500:2,PSz"), "two", t0)
	// UID 4 (1764496804...) was expunged; two new deliveries are unlisted:
	write(t, filepath.Join(dir, "new", "1764496900.M9P9.mx.example.org,S=5"), "late", t0)
	write(t, filepath.Join(dir, "new", "1764496899.M8P8.mx.example.org,S=5"), "early", t0)
	f, err := ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	if f.UIDSource != "dovecot-uidlist" || f.UIDValidity != 1764496800 || f.UIDNext != 8 {
		t.Errorf("folder %+v", f)
	}
	type row struct {
		Base     string
		UID      uint32
		Src      bool
		UIDL     string
		Flags    []string
		Keywords []string
		Recent   bool
	}
	var got []row
	for _, m := range f.Messages {
		got = append(got, row{strings.SplitN(filepath.Base(m.Path), ".", 2)[0], m.UID, m.UIDFromSource, m.UIDL, m.Flags, m.Keywords, m.Recent})
		if !m.Time.Equal(t0) {
			t.Errorf("%s: time %v, want the mtime", m.Path, m.Time)
		}
	}
	want := []row{
		{"1764496801", 1, true, "", []string{store.FlagAnswered, store.FlagSeen}, []string{"$Junk"}, false},
		{"1764496802", 2, true, "00000001508d1f3e", []string{store.FlagSeen}, []string{"$Forwarded"}, false},
		{"1764496899", 6, false, "", nil, nil, true},
		{"1764496900", 7, false, "", nil, nil, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0].Error(), "keyword letter z") {
		t.Errorf("warnings %v", f.Warnings)
	}
}

func TestReadFolderCourier(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	copyFixture(t, "courierimapuiddb", filepath.Join(dir, "courierimapuiddb"))
	write(t, filepath.Join(dir, "cur", "1099999999.12345_2.courier.example.org:2,S"), "b", time.Time{})
	write(t, filepath.Join(dir, "cur", "1099999990.12345_1.courier.example.org:2,"), "a", time.Time{})
	f, err := ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	if f.UIDSource != "courierimapuiddb" || f.UIDValidity != 1100000000 || len(f.Messages) != 2 ||
		f.Messages[0].UID != 7 || f.Messages[1].UID != 9 || !f.Messages[1].UIDFromSource || f.UIDNext != 10 {
		t.Errorf("%+v", f)
	}
}

func TestReadFolderPlain(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	t1 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	write(t, filepath.Join(dir, "cur", "zzz:2,S"), "", t1)          // no time in the name: mtime t1
	write(t, filepath.Join(dir, "cur", "aaa:2,"), "", t2)           // mtime t2
	write(t, filepath.Join(dir, "new", "bbb"), "", t1)              // same time as zzz: name decides
	write(t, filepath.Join(dir, "new", "1577833200.M1.h"), "", t2)  // 2019-12-31 23:00 UTC by its name
	write(t, filepath.Join(dir, "new", ".hidden"), "", time.Time{}) // not a message
	f, err := ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for i, m := range f.Messages {
		order = append(order, filepath.Base(m.Path))
		if m.UID != uint32(i+1) || m.UIDFromSource {
			t.Errorf("%s: UID %d", m.Path, m.UID)
		}
	}
	if want := []string{"1577833200.M1.h", "bbb", "zzz:2,S", "aaa:2,"}; !reflect.DeepEqual(order, want) {
		t.Errorf("order %q, want %q", order, want)
	}
	if f.UIDSource != "" || f.UIDValidity != 0 || f.UIDNext != 5 {
		t.Errorf("%+v", f)
	}
}

func TestReadFolderMalformed(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	write(t, filepath.Join(dir, "dovecot-uidlist"), "3 V1 N3\n1 :a\nbroken\n", time.Time{})
	_, err := ReadFolder(FolderRef{Dir: dir, Name: "INBOX"})
	if want := filepath.Join(dir, "dovecot-uidlist") + ":3: entry does not start with a UID"; err == nil || err.Error() != want {
		t.Errorf("err %v, want %s", err, want)
	}
}

func FuzzParseUIDList(f *testing.F) {
	for _, n := range []string{"dovecot-uidlist.v3", "dovecot-uidlist.v1", "courierimapuiddb"} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("3 V1 N2\n1 P :x\n")
	f.Fuzz(func(t *testing.T, in string) {
		l, err := ParseUIDList(strings.NewReader(in), "f")
		if err != nil {
			var pe *migrate.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("not a ParseError: %v", err)
			}
			return
		}
		if l.UIDValidity == 0 {
			t.Fatal("UIDVALIDITY 0 accepted")
		}
		for name, e := range l.Entries {
			if e.UID == 0 || e.UID >= l.UIDNext || name == "" || strings.ContainsAny(name, ":/") {
				t.Fatalf("entry %q %+v, next %d", name, e, l.UIDNext)
			}
		}
	})
}

func FuzzFolderName(f *testing.F) {
	f.Add(".Entw&APw-rfe.Lists")
	f.Add(".&-&ZeVnLIqe-")
	f.Fuzz(func(t *testing.T, in string) {
		n, err := FolderName(in)
		if err == nil && (n == "" || strings.Contains(n, "//")) {
			t.Fatalf("%q -> %q", in, n)
		}
	})
}
