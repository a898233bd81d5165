package maildir

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// dovecotSubsV2 is what Dovecot 2.3.19 wrote for CREATE and SUBSCRIBE of
// Lists.foo, "Entw&APw-rfe", "a b" and Old, SUBSCRIBE INBOX, then DELETE
// Old (which keeps the subscription).
const dovecotSubsV2 = "V\t2\n\nLists\tfoo\nEntw&APw-rfe\nINBOX\na b\nOld\n"

func TestParseDovecotSubscriptions(t *testing.T) {
	long := strings.Repeat("z", maxLine+1)
	for _, tc := range []struct {
		name, in string
		want     []string
		problems []string // the lines reported, in order
	}{
		{name: "version 2 as Dovecot wrote it", in: dovecotSubsV2,
			want: []string{"INBOX", "Lists/foo", "Old", "a b", "Entwürfe"}},
		{name: "version 1 as Dovecot reads it", in: "Lists.foo\nEntw&APw-rfe\ninbox\nSent.\nSent/x\n",
			want: []string{"INBOX", "Lists/foo", "Sent", "Entwürfe"}, problems: []string{"s:5"}},
		{name: "version 2, deeper and odd lines",
			in:       "V\t2\n\nA\tb\tc\r\nA\t\nA.b\tc\n\nx\001ty\nshared/bob/INBOX\na\t\tb\n&Jjo-\tEntw&APw-rfe\n&AC8-x\nEntw&APw\n" + long + "\nZ\n",
			want:     []string{"A", "A/b/c", "Z", "☺/Entwürfe"},
			problems: []string{"s:7", "s:8", "s:9", "s:11", "s:12", "s:13"}},
		{name: "a header without its empty line is a version 1 name", in: "V\t2\nA.b\n",
			want: []string{"A/b"}, problems: []string{"s:1"}},
		{name: "a CRLF header is not Dovecot's", in: "V\t2\r\n\r\nA\tb\n", problems: []string{"s:1", "s:3"}},
		{name: "empty", in: ""},
		{name: "only the header", in: "V\t2\n\n"},
		{name: "no final line end", in: "V\t2\n\nA\tb", want: []string{"A/b"}},
		{name: "duplicates, INBOX in any case", in: "V\t2\n\nA\nA\t\nINBOX\nInbox\ninbox\tx\n&AGk-nbox\tx\n", want: []string{"A", "INBOX", "INBOX/x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, skipped, err := ParseDovecotSubscriptions(strings.NewReader(tc.in), "s")
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("names %q, want %q", names, want)
			}
			var got []string
			for _, p := range skipped {
				got = append(got, fmt.Sprintf("%s:%d", p.File, p.Line))
			}
			if !slices.Equal(got, tc.problems) {
				t.Errorf("problems %v, want at lines %v", skipped, tc.problems)
			}
		})
	}
}

func TestParseDovecotSubscriptionsBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString(dovecotSubscriptionsV2)
	for i := range maxSubscriptions + 5 {
		fmt.Fprintf(&b, "f%d\tx\n..\n", i)
	}
	names, skipped, err := ParseDovecotSubscriptions(strings.NewReader(b.String()), "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != maxSubscriptions {
		t.Errorf("%d names, want the first %d", len(names), maxSubscriptions)
	}
	checkCourierKeywords(t, skipped)
	if last := skipped[len(skipped)-1]; len(skipped) != maxCourierWarnings+1 || !strings.Contains(last.Msg, "more problems not listed") {
		t.Errorf("%d problems, the last %v", len(skipped), last)
	}

	// A failing read is the caller's error, also while looking for the
	// header.
	broken := errors.New("disk on fire")
	for _, in := range []string{"", "V\t2\n\nA\n"} {
		if _, _, err := ParseDovecotSubscriptions(&failAfter{r: strings.NewReader(in), err: broken}, "s"); !errors.Is(err, broken) {
			t.Errorf("%q then a read error: %v", in, err)
		}
	}
}

// failAfter reads r, then fails with err.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil {
		return n, f.err
	}
	return n, nil
}

// FuzzParseDovecotSubscriptions: whatever the file, the names are valid,
// sorted and unique, at most maxSubscriptions of them, problems bounded;
// and the names written back as Dovecot would (version 2, and version 1)
// read back the same.
func FuzzParseDovecotSubscriptions(f *testing.F) {
	f.Add(dovecotSubsV2)
	f.Add("Lists.foo\nEntw&APw-rfe\ninbox\nSent.\nSent/x\n")
	f.Add("V\t2\n\nA\tb\tc\r\nA\t\nx\001ty\n&Jjo-\tEntw&APw-rfe\n&AC8-x\n")
	f.Fuzz(func(t *testing.T, in string) {
		names, skipped, err := ParseDovecotSubscriptions(strings.NewReader(in), "s")
		if err != nil {
			t.Fatal(err)
		}
		checkCourierKeywords(t, skipped)
		checkSubscriptionNames(t, names)
		var v1, v2 strings.Builder
		v2.WriteString(dovecotSubscriptionsV2)
		var back []string
		for _, n := range names {
			dir, err := DirName(n)
			if err != nil {
				continue // a level holding '.' (from "&AC4-"): no Maildir++ form
			}
			if n == store.InboxName {
				dir = "." + n
			}
			back = append(back, n)
			v1.WriteString(dir[1:] + "\n")
			v2.WriteString(strings.ReplaceAll(dir[1:], ".", "\t") + "\n")
		}
		for _, file := range []string{v1.String(), v2.String()} {
			again, skipped, err := ParseDovecotSubscriptions(strings.NewReader(file), "s")
			if err != nil || len(skipped) != 0 || !slices.Equal(again, back) {
				t.Fatalf("%q read back as %q (%v, %v), want %q", file, again, skipped, err, back)
			}
		}
	})
}

func checkSubscriptionNames(t *testing.T, names []string) {
	t.Helper()
	if len(names) > maxSubscriptions {
		t.Fatalf("%d names", len(names))
	}
	for i, n := range names {
		if !store.ValidMailboxName(n) || (i > 0 && names[i-1] >= n) {
			t.Fatalf("names %q", names)
		}
	}
}
