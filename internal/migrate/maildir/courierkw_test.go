package maildir

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/store"
)

// courierKWList is a :list as Courier-IMAP 5.0.13 wrote it after two
// messages were given keywords (UID STORE +FLAGS) and the folder was
// opened again.
const courierKWList = "customkw\nother\n$Label1\n\n1700000001.M1P1.host:2 0\n1700000002.M2P1.host:0 1\n"

func TestParseCourierKeywordList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		has      []string // nil: every message
		want     map[string][]string
		skipped  int
	}{
		{name: "Courier's", in: courierKWList, want: map[string][]string{
			"1700000001.M1P1.host": {"customkw", "$Label1"}, "1700000002.M2P1.host": {"customkw", "other"}}},
		{name: "stale message", in: courierKWList, has: []string{"1700000002.M2P1.host"},
			want: map[string][]string{"1700000002.M2P1.host": {"customkw", "other"}}},
		{name: "names only", in: "a\nb\n", want: map[string][]string{}},
		{name: "empty", in: "", want: map[string][]string{}},
		{name: "no final newline", in: "a\n\nm:0", want: map[string][]string{"m": {"a"}}},
		{name: "index past the names, repeated, extra spaces", in: "a\nb\n\nm: 1  1 7 0\n", want: map[string][]string{"m": {"a", "b"}}},
		{name: "later line replaces", in: "a\nb\n\nm:0\nm:1\nn:0\nn:9\n", want: map[string][]string{"m": {"b"}}},
		{name: "same keyword in another case", in: "Work\nwork\n\nm:1 0\n", want: map[string][]string{"m": {"Work"}}},
		{name: "not a keyword", in: "good\nbad(\n\\Seen\nsp ace\n\nm:0 1 2 3\n", want: map[string][]string{"m": {"good"}}, skipped: 3},
		{name: "no colon, no file, not a number", in: "a\n\njunk\n:0\nm:0 x\n", want: map[string][]string{"m": {"a"}}, skipped: 3},
		{name: "colon in the numbers", in: "a\n\nm:0:2,S\n", want: map[string][]string{}, skipped: 1},
		{name: "long line", in: "a\n" + strings.Repeat("x", maxLine+10) + "\nb\n\nm:0 1 2\n" + strings.Repeat("y", 2*maxLine) + "\nn:2\n",
			want: map[string][]string{"m": {"a", "b"}, "n": {"b"}}, skipped: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var has func(string) bool
			if tc.has != nil {
				has = func(b string) bool { return slices.Contains(tc.has, b) }
			}
			kw, err := ParseCourierKeywordList(strings.NewReader(tc.in), "l", has)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(kw.Keywords, tc.want) {
				t.Errorf("keywords %q, want %q", kw.Keywords, tc.want)
			}
			if len(kw.Skipped) != tc.skipped {
				t.Errorf("skipped %v, want %d", kw.Skipped, tc.skipped)
			}
		})
	}
}

// TestParseCourierKeywordListBounds: hostile sizes and counts stay
// bounded and reported, never failing the read.
func TestParseCourierKeywordListBounds(t *testing.T) {
	var b strings.Builder
	for i := range maxCourierKeywords + 50 {
		b.WriteString("k" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + strconv.Itoa(i) + "\n")
	}
	b.WriteString("\nm:0 999 1000 1049\n")
	for range 5000 {
		b.WriteString("garbage\n")
	}
	kw, err := ParseCourierKeywordList(strings.NewReader(b.String()), "l", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := kw.Keywords["m"]; len(got) != 2 {
		t.Errorf("m: %q, want the keywords 0 and 999 only", got)
	}
	if len(kw.Skipped) != maxCourierWarnings+1 || !strings.Contains(kw.Skipped[maxCourierWarnings].Msg, "more problems") {
		t.Errorf("%d problems reported: %v", len(kw.Skipped), kw.Skipped)
	}

	long := strings.Repeat("x", maxKeywordLen+1)
	words, skipped, err := ParseCourierKeywordUpdate(strings.NewReader("a\n"+long+"\nA\nb\n\nc\n"), "u")
	if err != nil || !reflect.DeepEqual(words, []string{"a", "b"}) || len(skipped) != 1 {
		t.Errorf("update: %q %v %v", words, skipped, err)
	}
	big := strings.Repeat("k\n", maxCourierUpdate) // every line the same keyword
	words, skipped, err = ParseCourierKeywordUpdate(strings.NewReader(big), "u")
	if err != nil || !reflect.DeepEqual(words, []string{"k"}) || len(skipped) != 1 {
		t.Errorf("long update: %q %v %v", words, skipped, err)
	}
}

// TestReadCourierKeywords: the update files as Courier's README describes
// them win over :list: a plain "<base>" over every ".<N>.<base>", the
// highest N among those; an empty one removes the keywords; files for
// messages not in the folder and scratch files are ignored.
func TestReadCourierKeywords(t *testing.T) {
	dir := t.TempDir()
	kwDir := filepath.Join(dir, courierKeywordDir)
	if err := os.Mkdir(kwDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		":list":           "a\nb\nc\n\nm1:0\nm2:0\nm3:0\nm4:0 1\nm5:2\n",
		"m1":              "plain\n",      // newest
		".5987009.m1":     "higher-n\n",   // the plain file still wins
		".5987002.m2":     "old\n",        // a lower N loses
		".5987003.m2":     "new\nNew\n",   // case-insensitive duplicate dropped
		".5987001.m3":     "",             // empty: no keywords
		"m4:2,S":          "info\n",       // a name with the info part still names m4
		"gone":            "x\n",          // no such message
		".tmp.1700.m5.xx": "scratch\n",    // Courier's scratch file
		".x.m5":           "not-update\n", // no number
	}
	for name, text := range files {
		write(t, filepath.Join(kwDir, name), text, time.Time{})
	}
	present := map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true, "m5": true}
	kw, ok, err := ReadCourierKeywords(dir, func(b string) bool { return present[b] })
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := map[string][]string{"m1": {"plain"}, "m2": {"new"}, "m4": {"info"}, "m5": {"c"}}
	if !reflect.DeepEqual(kw.Keywords, want) || len(kw.Skipped) != 0 {
		t.Errorf("keywords %q skipped %v, want %q", kw.Keywords, kw.Skipped, want)
	}
	if _, ok, err := ReadCourierKeywords(t.TempDir(), nil); ok || err != nil {
		t.Errorf("no directory: %v %v", ok, err)
	}
}

// TestReadFolderCourierKeywords: a Courier folder's messages get the
// keywords of courierimapkeywords/ (besides any from file-name letters);
// next to a dovecot-uidlist the directory is not read.
func TestReadFolderCourierKeywords(t *testing.T) {
	dir := t.TempDir()
	mkMaildir(t, dir)
	write(t, filepath.Join(dir, "courierimapuiddb"), "1 796100582 4\n1 1700000001.M1P1.host\n2 1700000002.M2P1.host\n3 1700000003.M3P1.host\n", time.Time{})
	write(t, filepath.Join(dir, "cur", "1700000001.M1P1.host:2,S"), "a", time.Time{})
	write(t, filepath.Join(dir, "cur", "1700000002.M2P1.host:2,"), "b", time.Time{})
	write(t, filepath.Join(dir, "new", "1700000003.M3P1.host"), "c", time.Time{})
	if err := os.Mkdir(filepath.Join(dir, courierKeywordDir), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, courierKeywordDir, ":list"), courierKWList+"1700000009.M9P1.host:1\n", time.Time{})
	write(t, filepath.Join(dir, courierKeywordDir, "1700000003.M3P1.host"), "late\n", time.Time{})
	f, err := ReadFolder(FolderRef{Dir: dir, Name: store.InboxName})
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32][]string{}
	for _, m := range f.Messages {
		got[m.UID] = m.Keywords
	}
	want := map[uint32][]string{1: {"customkw", "$Label1"}, 2: {"customkw", "other"}, 3: {"late"}}
	if !reflect.DeepEqual(got, want) || len(f.Warnings) != 0 {
		t.Errorf("keywords %v warnings %v, want %v", got, f.Warnings, want)
	}

	write(t, filepath.Join(dir, "dovecot-uidlist"), "3 V796100582 N4\n1 :1700000001.M1P1.host\n", time.Time{})
	f, err = ReadFolder(FolderRef{Dir: dir, Name: store.InboxName})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range f.Messages {
		if len(m.Keywords) != 0 {
			t.Errorf("with dovecot-uidlist: UID %d has keywords %q", m.UID, m.Keywords)
		}
	}
}

func TestParseCourierSubscriptions(t *testing.T) {
	// As Courier-IMAP 5.0.13 wrote it (folder names in UTF-8), plus lines
	// it would not write.
	in := "INBOX.Sent\nINBOX.Lists.foo\nINBOX.Entwürfe\nINBOX.Nonexistent\nINBOX\n" +
		"inbox.Sent\nshared.news\nINBOX.\nINBOX..x\nINBOX.Entw&APw-rfe\n\n" + strings.Repeat("z", maxLine+1) + "\n"
	names, skipped, err := ParseCourierSubscriptions(strings.NewReader(in), "s")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Entwürfe", "INBOX", "Lists/foo", "Nonexistent", "Sent"}
	if !reflect.DeepEqual(names, want) || len(skipped) != 4 {
		t.Errorf("names %q skipped %v, want %q and 4 skipped", names, skipped, want)
	}
}

func FuzzCourierKeywords(f *testing.F) {
	f.Add(courierKWList, "customkw\nother\n")
	f.Add("a\nb\n\nm:0 1 9 x\n\nn\n", "")
	f.Add("A\na\n\nm:1 0 0\nm:\n", "a\n(\n\n")
	f.Fuzz(func(t *testing.T, list, update string) {
		kw, err := ParseCourierKeywordList(strings.NewReader(list), "l", nil)
		if err != nil {
			t.Fatal(err)
		}
		checkCourierKeywords(t, kw.Skipped)
		for base, words := range kw.Keywords {
			if base == "" || strings.ContainsAny(base, ":\n") || len(words) == 0 {
				t.Fatalf("entry %q -> %q", base, words)
			}
			checkWords(t, words)
		}
		words, skipped, err := ParseCourierKeywordUpdate(strings.NewReader(update), "u")
		if err != nil {
			t.Fatal(err)
		}
		checkCourierKeywords(t, skipped)
		checkWords(t, words)
	})
}

func checkCourierKeywords(t *testing.T, skipped []*migrate.ParseError) {
	t.Helper()
	if len(skipped) > maxCourierWarnings+1 {
		t.Fatalf("%d problems reported", len(skipped))
	}
}

func checkWords(t *testing.T, words []string) {
	t.Helper()
	if len(words) > maxCourierKeywords {
		t.Fatalf("%d keywords", len(words))
	}
	seen := map[string]bool{}
	for _, w := range words {
		if !validKeyword(w) || strings.HasPrefix(w, `\`) || seen[strings.ToLower(w)] {
			t.Fatalf("keyword %q in %q", w, words)
		}
		seen[strings.ToLower(w)] = true
	}
}

func FuzzParseCourierSubscriptions(f *testing.F) {
	f.Add("INBOX.Sent\nINBOX\nINBOX.Entw&APw-rfe\nshared.x\n")
	f.Fuzz(func(t *testing.T, in string) {
		names, skipped, err := ParseCourierSubscriptions(strings.NewReader(in), "s")
		if err != nil {
			t.Fatal(err)
		}
		checkCourierKeywords(t, skipped)
		for i, n := range names {
			if !store.ValidMailboxName(n) || (i > 0 && names[i-1] >= n) {
				t.Fatalf("names %q", names)
			}
		}
	})
}
