package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// TestMaildropReadAhead reads a maildrop in order, backwards and
// partially, across read-ahead batches and bodies too large to be read
// ahead, and checks every body; a message expunged before its batch is
// read is ErrNotFound, one expunged after is still served (readahead.go).
func TestMaildropReadAhead(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "readahead"})
	a := user(t, s, "ahead@example.org")
	const n = 80
	line := strings.Repeat("Lorem ipsum dolor sit amet.", 2) + "\r\n"
	var bodies []string
	for i := range n {
		size := 20 << 10 // 80 x 20 KiB: two batches and a half
		switch i {
		case 3:
			size = chunkSize + 10<<10 // read as a stream, in two chunks
		case 4:
			size = 0
		}
		b := fmt.Sprintf("Subject: %d\r\n\r\n", i) + strings.Repeat(line, size/len(line))
		bodies = append(bodies, b)
		deliver(t, s, a, b)
	}
	m, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	msgs := m.Messages()
	if len(msgs) != n {
		t.Fatalf("%d messages, want %d", len(msgs), n)
	}
	read := func(i int) (string, error) {
		t.Helper()
		r, err := m.Body(ctx, msgs[i].ID)
		if err != nil {
			return "", err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		return string(b), err
	}
	check := func(order []int) {
		t.Helper()
		for _, i := range order {
			got, err := read(i)
			if err != nil || got != bodies[i] {
				t.Fatalf("message %d: %d octets, %v; want %d", i+1, len(got), err, len(bodies[i]))
			}
		}
	}
	var all, back []int
	for i := range n {
		all = append(all, i)
		back = append(back, n-1-i)
	}
	check(all)
	check(back)
	check(all[:2])
	check(all[:50]) // starts again from the first

	// A TOP reads part of a body read ahead; the next message still comes whole.
	r, err := m.Body(ctx, msgs[50].ID)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 10)
	if _, err := io.ReadFull(r, head); err != nil || string(head) != bodies[50][:10] {
		t.Fatalf("start of message 51: %q, %v", head, err)
	}
	r.Close()
	check(all[51:53])

	// Message 54 was read ahead with 52 and 53, message 80 was not:
	// expunged now, the first is still served, the second is gone.
	mb, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		t.Fatal(err)
	}
	gone := []uint32{list[53].UID, list[n-1].UID}
	if _, err := s.UpdateFlags(ctx, mb.ID, gone, store.FlagsAdd, []string{`\Deleted`}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expunge(ctx, mb.ID, nil); err != nil {
		t.Fatal(err)
	}
	check(all[53 : n-1])
	if _, err := read(n - 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("message %d expunged before it was read ahead: %v, want ErrNotFound", n, err)
	}
}

// TestMaildropReadAheadBuffers checks the pooling of read-ahead buffers:
// a body's reader still open while later batches reuse pooled buffers
// keeps its own, and its buffer goes back to the pool once the last body
// of its batch is closed or dropped (readahead.go).
func TestMaildropReadAheadBuffers(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, pgtest.Database(t), Options{Schema: "aheadbuffers"})
	a := user(t, s, "buffers@example.org")
	const n = 160 // 20 KiB each: three batches and more
	var bodies []string
	for i := range n {
		b := fmt.Sprintf("Subject: %d\r\n\r\n", i) + strings.Repeat(fmt.Sprintf("line %d of a message\r\n", i), (20<<10)/24)
		bodies = append(bodies, b)
		deliver(t, s, a, b)
	}
	md, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	msgs := md.Messages()
	open := func(i int) io.ReadCloser {
		t.Helper()
		r, err := md.Body(ctx, msgs[i].ID)
		if err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		return r
	}
	readAll := func(i int, r io.ReadCloser) {
		t.Helper()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != bodies[i] {
			t.Fatalf("message %d: %d octets, %v; want %d", i+1, len(got), err, len(bodies[i]))
		}
		r.Close()
	}
	held := open(0)
	first, ok := held.(*blockReader)
	if !ok {
		t.Fatalf("message 1 not read ahead: %T", held)
	}
	batch := first.block
	// Read the rest but for the last of the first batch, which stays
	// read ahead and is dropped when the next batch comes.
	for i := 1; i < n; i++ {
		if i == 50 {
			continue
		}
		readAll(i, open(i))
	}
	readAll(0, held)
	if batch.buf != nil {
		t.Errorf("the first batch's buffer was not pooled after its last reader closed (%d references left)", batch.refs.Load())
	}
	held.Close() // a second Close changes nothing
	readAll(50, open(50))
}
