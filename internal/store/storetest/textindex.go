package storetest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/message/mailgen"
	"github.com/pochta-mail/pochta/internal/store"
)

// candidates returns TextCandidates for needle in m.
func candidates(t *testing.T, s store.Store, m store.Mailbox, needle string) []uint32 {
	t.Helper()
	ts, ok := s.(store.TextSearcher)
	if !ok {
		t.Fatalf("%T does not implement store.TextSearcher", s)
	}
	uids, err := ts.TextCandidates(context.Background(), m.ID, message.QueryTerms(needle))
	if err != nil {
		t.Fatalf("TextCandidates(%q): %v", needle, err)
	}
	return uids
}

// testTextIndex checks the text index contract (store.TextSearcher):
// every way a message arrives indexes it (delivery to several accounts,
// APPEND, MULTIAPPEND, COPY, MOVE, import), a search sees only its
// mailbox's messages, and removals leave the copies found.
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

	for _, c := range []struct {
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
	} {
		if got := candidates(t, s, c.mb, c.needle); !slices.Equal(got, c.want) {
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
		if got := candidates(t, s, c.mb, c.needle); !slices.Equal(got, c.want) {
			t.Errorf("after copy, move and expunge: %s: candidates for %q: %v, want %v", c.mb.Name, c.needle, got, c.want)
		}
	}
	// Another account's removal leaves this one's message found.
	if err := s.DeleteAccount(ctx, b.Address); err != nil {
		t.Fatal(err)
	}
	if got := candidates(t, s, archive, "unicorn"); !slices.Equal(got, []uint32{1}) {
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
	var narrowed int
	for i, m := range msgs {
		for _, needle := range mailgen.Needles(rng, m, 4) {
			if message.QueryTerms(needle) == nil {
				continue
			}
			qs := []message.MatchQuery{{Kind: message.MatchBody, Value: needle}, {Kind: message.MatchText, Value: needle}}
			cands := candidates(t, s, inbox, needle)
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
	if narrowed == 0 {
		t.Errorf("the index never narrowed a search")
	}
}
