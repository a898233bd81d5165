package imap

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
	"github.com/pochta-mail/pochta/internal/message/mailgen"
	"github.com/pochta-mail/pochta/internal/store"
)

// unindexed hides the store's text index (store.TextSearcher): the
// server then reads every message for every string key.
type unindexed struct{ store.Mailboxes }

// TestSearchIndexedEqualsUnindexed delivers the same generated mail
// (non-ASCII, encoded words, base64 and quoted-printable parts in several
// charsets, multiparts, embedded messages, attachments) to a server that
// uses the text index and one that does not, and compares their answers
// to many SEARCH programs with BODY, TEXT, SUBJECT and HEADER strings
// taken from the mail, cut across its parts, from its attachments, and
// absent from it, alone and under AND, OR and NOT. The indexed server
// answers them three times: right after the deliveries (which index
// nothing), with a third of the mail indexed, and with all of it.
func TestSearchIndexedEqualsUnindexed(t *testing.T) {
	indexed := newEnv(t, envOptions{})
	plain := newEnv(t, envOptions{server: func(s *Server) { s.Store = unindexed{s.Store} }})
	if _, ok := indexed.srv.Store.(store.TextSearcher); !ok {
		t.Fatal("the SQLite store has no text index")
	}
	rng := rand.New(rand.NewPCG(11, 12))
	n := 120
	var msgs []mailgen.Message
	for i := range n {
		m := mailgen.Generate(rng, i)
		msgs = append(msgs, m)
		for _, e := range []*env{indexed, plain} {
			if err := e.store.Deliver(context.Background(), store.Delivery{
				Recipients: []store.Recipient{{AccountID: e.account(testUser).ID}}, Body: strings.NewReader(string(m.Raw))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	conns := []*imaptest.Conn{loggedIn(t, indexed), loggedIn(t, plain)}
	for _, c := range conns {
		if _, err := c.MustOK("SELECT", "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	lit := func(s string) any { return imaptest.LitPlus(s) }
	var programs [][]any
	for i := 0; i < 60; i++ {
		m := msgs[rng.IntN(n)]
		ns := mailgen.Needles(rng, m, 2)
		a, b := lit(ns[0]), lit(ns[1])
		programs = append(programs,
			[]any{"BODY", a}, []any{"TEXT", a}, []any{"SUBJECT", a}, []any{"HEADER", "From", a},
			[]any{"BODY", a, "TEXT", b}, []any{"OR", "BODY", a, "SUBJECT", b}, []any{"NOT", "BODY", a},
			[]any{"OR", "BODY", a, "FROM", b}, []any{"UID", "1:60", "BODY", a})
	}
	for _, stage := range []struct {
		name  string
		index int // messages IndexText indexes before the stage
	}{{"before indexing", 0}, {"a third indexed", n / 3}, {"indexed", n}} {
		if stage.index > 0 {
			if _, err := indexed.store.IndexText(context.Background(), stage.index); err != nil {
				t.Fatal(err)
			}
		}
		compareSearches(t, conns, programs, stage.name)
	}
	if n, err := indexed.store.IndexText(context.Background(), 1); err != nil || n != 0 {
		t.Fatalf("IndexText after indexing everything: %d, %v", n, err)
	}
}

// compareSearches runs each program on both connections and fails the
// test unless their answers are the same.
func compareSearches(t *testing.T, conns []*imaptest.Conn, programs [][]any, stage string) {
	t.Helper()
	var hits int
	for _, p := range programs {
		var answers [2]string
		for i, c := range conns {
			res, err := c.MustOK(append([]any{"UID", "SEARCH", "CHARSET", "UTF-8"}, p...)...)
			if err != nil {
				t.Fatal(err)
			}
			answers[i] = strings.TrimSpace(res.Untagged[0].Raw)
		}
		if answers[0] != answers[1] {
			t.Fatalf("%s: UID SEARCH %v:\n indexed:   %s\n unindexed: %s", stage, p, answers[0], answers[1])
		}
		if answers[0] != "* SEARCH" {
			hits++
		}
	}
	if hits < len(programs)/4 {
		t.Errorf("%s: only %d of %d programs found anything: the needles test too little", stage, hits, len(programs))
	}
}
