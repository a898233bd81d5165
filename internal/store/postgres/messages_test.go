package postgres

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// TestListedBodiesPooled: a listing's bodies are read from a pooled
// block, which goes back to the pool once every body's reader is
// closed, and not while one is held or was never opened; a body opened
// again reads the database, as does one too large to be listed.
func TestListedBodiesPooled(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "listed"})
	a := user(t, s, "listed@example.org")
	var bodies []string
	for i := range 4 {
		size := 10 << 10
		if i == 3 {
			size = listedBodyMax + 1
		}
		b := fmt.Sprintf("Subject: %d\r\n\r\n", i)
		b += strings.Repeat("x", size-len(b)-2) + "\r\n"
		bodies = append(bodies, b)
		deliver(t, s, a, b)
	}
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	list := func() []store.Message {
		t.Helper()
		msgs, err := s.ListMessages(ctx, inbox.ID, store.MessageQuery{Bodies: true})
		if err != nil || len(msgs) != len(bodies) {
			t.Fatalf("listing: %d messages, %v", len(msgs), err)
		}
		return msgs
	}
	open := func(m store.Message) io.ReadCloser {
		t.Helper()
		r, err := m.Open()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	check := func(i int, r io.ReadCloser) {
		t.Helper()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != bodies[i] {
			t.Fatalf("body %d: %d octets, %v; want %d", i, len(got), err, len(bodies[i]))
		}
	}

	msgs := list()
	var held []io.ReadCloser
	var block *bodyBlock
	for i := range 3 {
		r := open(msgs[i])
		br, ok := r.(*blockReader)
		if !ok {
			t.Fatalf("body %d not read from the listing's block: %T", i, r)
		}
		if block == nil {
			block = br.block
		} else if br.block != block {
			t.Fatalf("body %d in a block of its own", i)
		}
		check(i, r)
		held = append(held, r)
	}
	if r := open(msgs[3]); r.(*bodyReader) == nil {
		t.Fatal("the large body has no reader")
	} else {
		check(3, r)
		r.Close()
	}
	again := open(msgs[0])
	if _, ok := again.(*blockReader); ok {
		t.Fatal("a second Open of a body read the block its first reader holds a share of")
	}
	check(0, again)
	again.Close()
	for i, r := range held {
		if block.buf == nil {
			t.Fatalf("the block went back to the pool with %d of 3 readers closed", i)
		}
		r.Close()
		r.Close() // a second Close changes nothing
	}
	if block.buf != nil {
		t.Fatalf("the block was not pooled after its readers closed (%d references left)", block.refs.Load())
	}

	// A body never opened keeps its block out of the pool.
	msgs = list()
	r := open(msgs[0])
	block = r.(*blockReader).block
	check(0, r)
	r.Close()
	if block.buf == nil || block.refs.Load() != 2 {
		t.Fatalf("block pooled or miscounted with two bodies never opened: %d references", block.refs.Load())
	}
}
