package sqlite

import (
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
