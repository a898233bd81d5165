package sqlite

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func countBlobs(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRow(`SELECT count(*) FROM blobs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInlineBodies checks where bodies go around InlineMax (measured after
// CRLF normalisation) and that inline bodies are shared and removed like
// files.
func TestInlineBodies(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{InlineMax: 100})
	a := newAccount(t, s, "a@example.org")
	b := newAccount(t, s, "b@example.org")
	at := strings.Repeat("x", 98) + "\n"   // 100 octets once CRLF: inline
	over := strings.Repeat("y", 99) + "\n" // 101 octets: a file
	deliverTo(t, s, at, store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
	deliverTo(t, s, over, store.Recipient{AccountID: a.ID})
	if n, files := countBlobs(t, s), len(bodyFiles(t, dir)); n != 1 || files != 1 {
		t.Fatalf("%d blobs and %d files, want 1 and 1", n, files)
	}
	want := []string{strings.ReplaceAll(at, "\n", "\r\n"), strings.ReplaceAll(over, "\n", "\r\n")}
	if got := contents(t, s, a); len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("a has %q, want %q", got, want)
	}
	if err := s.DeleteAccount(context.Background(), a.Address); err != nil {
		t.Fatal(err)
	}
	if n, files := countBlobs(t, s), len(bodyFiles(t, dir)); n != 1 || files != 0 {
		t.Errorf("after deleting a: %d blobs (b still shares one) and %d files, want 1 and 0", n, files)
	}
	m, err := s.OpenMaildrop(context.Background(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(context.Background(), []int64{m.Messages()[0].ID}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if n := countBlobs(t, s); n != 0 {
		t.Errorf("%d blobs left after the last reference went", n)
	}
}

// TestInlineFailedDeliveryLeavesNothing: a refused inline delivery adds no
// blob row.
func TestInlineFailedDeliveryLeavesNothing(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "a@example.org")
	err := s.Deliver(context.Background(), store.Delivery{
		Recipients: []store.Recipient{{AccountID: a.ID}, {AccountID: a.ID + 1}},
		Body:       strings.NewReader("small\r\n"),
	})
	if err == nil {
		t.Fatal("delivery to an unknown account succeeded")
	}
	if n := countBlobs(t, s); n != 0 {
		t.Errorf("%d blobs after a failed delivery", n)
	}
}

// TestDeleteMixedSet deletes, in one Delete, inline and file bodies, a
// body shared with another account, an id of another account's message
// and one that arrived after the snapshot: only the snapshot's own
// messages go, and only bodies nobody references any more.
func TestDeleteMixedSet(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{InlineMax: 100})
	a := newAccount(t, s, "a@example.org")
	b := newAccount(t, s, "b@example.org")
	small, big := "small\r\n", strings.Repeat("z", 200)+"\r\n"
	deliverTo(t, s, small+"1", store.Recipient{AccountID: a.ID})
	deliverTo(t, s, big+"2", store.Recipient{AccountID: a.ID})
	deliverTo(t, s, small+"3", store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
	deliverTo(t, s, big+"4", store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
	ctx := context.Background()
	m, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	deliverTo(t, s, small+"late", store.Recipient{AccountID: a.ID})
	mb, err := s.OpenMaildrop(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	bIDs := []int64{mb.Messages()[0].ID, mb.Messages()[1].ID}
	mb.Close()
	var ids []int64
	for _, msg := range m.Messages() {
		ids = append(ids, msg.ID)
	}
	var late int64
	if err := s.reader.QueryRow(`SELECT max(id) FROM messages`).Scan(&late); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, append(append(ids, bIDs...), late)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if n, files := countBlobs(t, s), len(bodyFiles(t, dir)); n != 2 || files != 1 {
		t.Errorf("%d blobs and %d files left, want 2 (shared, late) and 1 (shared)", n, files)
	}
	if got := contents(t, s, a); len(got) != 1 || got[0] != small+"late\r\n" {
		t.Errorf("a has %q, want only the late message", got)
	}
	if got := contents(t, s, b); len(got) != 2 {
		t.Errorf("b has %d messages, want 2", len(got))
	}
}

// Bodies read into pooled buffers take a buffer of their size class, not
// one of the largest inline size: a FETCH holds a batch of them.
func TestReadBufferSizeClasses(t *testing.T) {
	var p readBufferPool
	for _, tc := range []struct{ n, capacity int }{
		{0, 4 << 10}, {1, 4 << 10}, {4 << 10, 4 << 10}, {4<<10 + 1, 8 << 10},
		{11000, 16 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 64<<10 + 1},
	} {
		data := bytes.Repeat([]byte{'x'}, tc.n)
		buf := p.copy(data)
		if cap(*buf) != tc.capacity || !bytes.Equal(*buf, data) {
			t.Errorf("%d octets: a buffer of capacity %d (want %d), equal %v", tc.n, cap(*buf), tc.capacity, bytes.Equal(*buf, data))
		}
		p.put(buf)
	}
}
