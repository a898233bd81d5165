package storetest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/message/mailgen"
	"github.com/pochta-mail/pochta/internal/store"
)

// Candidates returns s.TextCandidates for needle in the mailbox with
// the given id, failing t on an error: for the engines' own tests too.
func Candidates(t testing.TB, s store.Store, mailbox int64, needle string) []uint32 {
	t.Helper()
	ts, ok := s.(store.TextSearcher)
	if !ok {
		t.Fatalf("%T does not implement store.TextSearcher", s)
	}
	uids, err := ts.TextCandidates(context.Background(), mailbox, message.QueryTerms(needle))
	if err != nil {
		t.Fatalf("TextCandidates(%q): %v", needle, err)
	}
	return uids
}

// indexAll runs IndexText until nothing is left to index.
func indexAll(t *testing.T, s store.Store) {
	t.Helper()
	for {
		n, err := s.(store.TextSearcher).IndexText(context.Background(), 3)
		if err != nil {
			t.Fatalf("IndexText: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

// testTextIndex checks the text index contract (store.TextSearcher):
// a message is found right after it arrives, indexed or not, and every
// way a message arrives (delivery to several accounts, APPEND,
// MULTIAPPEND, COPY, MOVE, import) leaves it for IndexText to index; a
// search sees only its mailbox's messages, and removals leave the copies
// found.
func testTextIndex(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "fts@example.org")
	b := account(t, s, "fts2@example.org")
	text := func(subject, body string) string {
		return "Subject: " + subject + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
	}
	deliver(t, s, text("hello", "the quick brown unicorn"), a, b)
	deliver(t, s, text("zebra", "a zebra crossing"), a)
	inbox := getMailbox(t, s, a, "INBOX")
	drafts := getMailbox(t, s, a, "Drafts")
	appendMsg(t, s, drafts, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Transfer-Encoding: base64\r\n\r\n"+
		"S8O2bG4gdW5kIFN0cmHDn2U=\r\n") // "Köln und Straße"
	if _, _, err := s.AppendMessages(ctx, drafts.ID, []store.AppendMessage{
		{Body: strings.NewReader(text("multi", "first of a multiappend"))},
		{Body: strings.NewReader(text("multi", "second of a multiappend"))},
	}); err != nil {
		t.Fatal(err)
	}
	imported := importMailbox(t, s, a, store.ImportMailbox{Name: "Imported"})
	importAll(t, s, imported, importMsg("k1", 0, "", text("import", "an imported walrus")))

	cases := []struct {
		mb     store.Mailbox
		needle string
		want   []uint32
	}{
		{inbox, "unicorn", []uint32{1}},
		{inbox, "QUICK BROWN", []uint32{1}},
		{inbox, "zebra", []uint32{2}},
		{inbox, "subject", []uint32{1, 2}}, // header names are text too
		{inbox, "walrus", nil},
		{drafts, "KÖLN", []uint32{1}},
		{drafts, "grüsse", nil},
		{drafts, "GRÜßE", []uint32{1}},
		{drafts, "multiappend", []uint32{2, 3}},
		{imported, "walrus", []uint32{1}},
		{getMailbox(t, s, b, "INBOX"), "unicorn", []uint32{1}},
		{getMailbox(t, s, b, "INBOX"), "zebra", nil},
	}
	// Before IndexText (the committing transaction indexes nothing, and
	// the engine under test runs no background indexer, or one that may
	// not have run yet): every message that has the string is a
	// candidate, and nothing outside the mailbox is.
	for _, c := range cases {
		got := Candidates(t, s, c.mb.ID, c.needle)
		for _, u := range c.want {
			if _, ok := slices.BinarySearch(got, u); !ok {
				t.Errorf("before indexing: %s: candidates for %q: %v, want at least %v", c.mb.Name, c.needle, got, c.want)
			}
		}
		all, err := s.ListUIDs(ctx, c.mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range got {
			if _, ok := slices.BinarySearch(all, u); !ok {
				t.Errorf("before indexing: %s: candidate %d for %q is not in the mailbox %v", c.mb.Name, u, c.needle, all)
			}
		}
	}
	indexAll(t, s)
	for _, c := range cases {
		if got := Candidates(t, s, c.mb.ID, c.needle); !slices.Equal(got, c.want) {
			t.Errorf("%s: candidates for %q: %v, want %v", c.mb.Name, c.needle, got, c.want)
		}
	}

	// Copies and moved messages are found where they are; the copy stays
	// found when the original is expunged.
	archive := getMailbox(t, s, a, "Archive")
	if _, err := s.CopyMessages(ctx, inbox.ID, []uint32{1, 2}, archive.ID); err != nil {
		t.Fatal(err)
	}
	trash := getMailbox(t, s, a, "Trash")
	if _, err := s.MoveMessages(ctx, drafts.ID, []uint32{1}, trash.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFlags(ctx, inbox.ID, []uint32{1}, store.FlagsAdd, []string{store.FlagDeleted}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, inbox.ID, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mb     store.Mailbox
		needle string
		want   []uint32
	}{
		{inbox, "unicorn", nil},
		{archive, "unicorn", []uint32{1}},
		{archive, "zebra", []uint32{2}},
		{trash, "köln", []uint32{1}},
		{drafts, "köln", nil},
	} {
		if got := Candidates(t, s, c.mb.ID, c.needle); !slices.Equal(got, c.want) {
			t.Errorf("after copy, move and expunge: %s: candidates for %q: %v, want %v", c.mb.Name, c.needle, got, c.want)
		}
	}
	// Another account's removal leaves this one's message found.
	if err := s.DeleteAccount(ctx, b.Address); err != nil {
		t.Fatal(err)
	}
	if got := Candidates(t, s, archive.ID, "unicorn"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("after the other recipient's account was deleted: %v", got)
	}
	if n, err := s.(store.TextSearcher).IndexText(ctx, 100); err != nil || n != 0 {
		t.Errorf("IndexText on a store where every message is indexed: %d, %v; want 0", n, err)
	}
	if _, err := s.(store.TextSearcher).TextCandidates(ctx, inbox.ID, nil); err == nil {
		t.Errorf("TextCandidates without terms: no error")
	}
}

// testTextIndexNeverMisses delivers generated mail (encoded words,
// base64 and quoted-printable parts in several charsets, multiparts,
// attachments) and checks that every message the Matcher finds a BODY or
// TEXT string in is among the candidates.
func testTextIndexNeverMisses(t *testing.T, s store.Store) {
	a := account(t, s, "ftsgen@example.org")
	rng := rand.New(rand.NewPCG(5, 5))
	var msgs []mailgen.Message
	for i := range 25 {
		m := mailgen.Generate(rng, i)
		msgs = append(msgs, m)
		deliver(t, s, string(m.Raw), a)
	}
	inbox := getMailbox(t, s, a, "INBOX")
	// Unindexed, partly indexed, then indexed: never a miss.
	checkNeverMisses(t, s, inbox, msgs, rng)
	if _, err := s.(store.TextSearcher).IndexText(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	checkNeverMisses(t, s, inbox, msgs, rng)
	indexAll(t, s)
	if checkNeverMisses(t, s, inbox, msgs, rng) == 0 {
		t.Errorf("the index never narrowed a search")
	}
}

// checkNeverMisses checks that every message of msgs (delivered in
// order to inbox) that has a needle is its candidate, and returns how
// many messages the candidates left out in all.
func checkNeverMisses(t *testing.T, s store.Store, inbox store.Mailbox, msgs []mailgen.Message, rng *rand.Rand) int {
	t.Helper()
	var narrowed int
	for i, m := range msgs {
		for _, needle := range mailgen.Needles(rng, m, 4) {
			if message.QueryTerms(needle) == nil {
				continue
			}
			qs := []message.MatchQuery{{Kind: message.MatchBody, Value: needle}, {Kind: message.MatchText, Value: needle}}
			cands := Candidates(t, s, inbox.ID, needle)
			narrowed += len(msgs) - len(cands)
			for j, other := range msgs {
				res, err := message.NewMatcher(qs, false).Match(bytes.NewReader(other.Raw))
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := slices.BinarySearch(cands, uint32(j+1)); (res.Found[0] || res.Found[1]) && !ok {
					t.Fatalf("needle %q (from message %d) is in message %d, which is not a candidate (%v)", needle, i+1, j+1, cands)
				}
			}
		}
	}
	return narrowed
}

// TextIndexerAtStart checks that messages whose process stopped between
// their commit and their indexing (a crash: only the unindexed rows
// remain, which a process without the background indexer leaves too) are
// found meanwhile and indexed by the background indexer of the next
// process to open the store; then that messages delivered to that one
// are indexed as well. open opens the same store each time, with the
// background indexer or without it, and closes it when the test ends.
func TextIndexerAtStart(t *testing.T, open func(indexer bool) store.Store) {
	ctx := context.Background()
	text := func(body string) string {
		return "Subject: restart\r\n\r\n" + body + "\r\n"
	}
	first := open(false)
	a := account(t, first, "restart@example.org")
	deliver(t, first, text("an unindexed narwhal"), a)
	deliver(t, first, text("an unindexed okapi"), a)
	inbox := getMailbox(t, first, a, "INBOX")
	if got := Candidates(t, first, inbox.ID, "narwhal"); !slices.Equal(got, []uint32{1, 2}) {
		t.Fatalf("before indexing: candidates for narwhal: %v, want every message", got)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := open(true)
	flush := func() {
		t.Helper()
		f, ok := second.(interface{ FlushTextIndex(context.Context) error })
		if !ok {
			t.Fatalf("%T has no FlushTextIndex", second)
		}
		if err := f.FlushTextIndex(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	if got := Candidates(t, second, inbox.ID, "narwhal"); !slices.Equal(got, []uint32{1}) {
		t.Errorf("after the next start: candidates for narwhal: %v, want [1]", got)
	}
	deliver(t, second, text("an indexed capybara"), a)
	flush()
	if got := Candidates(t, second, inbox.ID, "capybara"); !slices.Equal(got, []uint32{3}) {
		t.Errorf("a delivery to the indexing process: candidates for capybara: %v, want [3]", got)
	}
	if n, err := second.(store.TextSearcher).IndexText(ctx, 100); err != nil || n != 0 {
		t.Errorf("IndexText after the background indexer: %d, %v; want 0", n, err)
	}
}

// TextIndexRetries checks that a body IndexText cannot read for a
// passing reason (an I/O error, a database error) is tried again later,
// not marked not indexable at the first failure, and that the tries are
// bounded: a body that keeps failing is marked not indexable (a candidate
// for every search) after store.TextIndexTries of them. open opens a
// store on the given clock; fail makes every body's read fail with such
// an error (broken true) or mends them.
func TextIndexRetries(t *testing.T, open func(now func() time.Time) store.Store, fail func(s store.Store, broken bool)) {
	ctx := context.Background()
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Unix())
	later := func(d time.Duration) { clock.Add(int64(d / time.Second)) }
	s := open(func() time.Time { return time.Unix(clock.Load(), 0) })
	ts := s.(store.TextSearcher)
	index := func() int {
		t.Helper()
		total := 0
		for {
			n, err := ts.IndexText(ctx, 10)
			if err != nil {
				t.Fatalf("IndexText: %v", err)
			}
			if n == 0 {
				return total
			}
			total += n
		}
	}
	a := account(t, s, "retry@example.org")
	deliver(t, s, "Subject: one\r\n\r\na unicorn\r\n", a)
	deliver(t, s, "Subject: two\r\n\r\na zebra\r\n", a)
	inbox := getMailbox(t, s, a, "INBOX")

	fail(s, true)
	if n := index(); n != 2 {
		t.Errorf("IndexText with the bodies unreadable took %d messages, want 2", n)
	}
	fail(s, false)
	if got := Candidates(t, s, inbox.ID, "zebra"); !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("after the failure: candidates %v, want both (not indexed)", got)
	}
	if n := index(); n != 0 {
		t.Errorf("IndexText right after the failure took %d messages, want none before the retry's time", n)
	}
	later(time.Hour)
	if n := index(); n != 2 {
		t.Errorf("IndexText an hour later took %d messages, want 2", n)
	}
	if got := Candidates(t, s, inbox.ID, "zebra"); !slices.Equal(got, []uint32{2}) {
		t.Errorf("retried: candidates %v, want [2] (the other indexed, not given up)", got)
	}

	deliver(t, s, "Subject: three\r\n\r\na walrus\r\n", a)
	fail(s, true)
	tries := 0
	for ; tries <= store.TextIndexTries; tries++ {
		if index() == 0 {
			break
		}
		later(24 * time.Hour)
	}
	if tries != store.TextIndexTries {
		t.Errorf("a body that kept failing was tried %d times, want %d", tries, store.TextIndexTries)
	}
	fail(s, false)
	later(24 * time.Hour)
	if n := index(); n != 0 {
		t.Errorf("IndexText after giving up took %d messages, want none", n)
	}
	if got := Candidates(t, s, inbox.ID, "zebra"); !slices.Equal(got, []uint32{2, 3}) {
		t.Errorf("given up: candidates %v, want [2 3] (3 read by every search)", got)
	}
}
