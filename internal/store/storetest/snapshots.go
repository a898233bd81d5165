package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// KeptSnapshots checks an engine that keeps maildrop snapshots between
// sessions (store.SnapshotCache): every open of a's maildrop in s must
// equal a fresh listing read by other (another process or node on the
// same data, whose kept snapshot forget drops first), whatever changed the
// INBOX in between and wherever. a's INBOX holds n messages, n at least
// store.SnapshotCacheMin; kept reports whether an open maildrop of s
// uses the snapshot kept from the last open.
func KeptSnapshots(t *testing.T, s, other store.Store, a store.Account, n int, forget func(), kept func(store.Maildrop) bool) {
	t.Helper()
	ctx := t.Context()
	check := func(step string, wantLen int) store.Maildrop {
		t.Helper()
		forget()
		fresh, err := other.OpenMaildrop(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := fresh.Messages()
		fresh.Close()
		m, err := s.OpenMaildrop(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Messages(); len(got) != wantLen || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: %d messages, a fresh listing has %d, want %d; equal: %v",
				step, len(got), len(want), wantLen, reflect.DeepEqual(got, want))
		}
		return m
	}
	check("first open", n).Close()
	m := check("kept", n)
	if !kept(m) {
		t.Fatal("the second open did not reuse the kept snapshot")
	}
	ids := []int64{m.Messages()[3].ID, m.Messages()[1000].ID}
	if err := m.MarkRetrieved(ctx, ids, time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	check("after MarkRetrieved", n).Close()

	deliver(t, other, "Subject: new\r\n\r\nfrom another process\r\n", a)
	n++
	check("after a delivery by another process", n).Close()

	om, err := other.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := om.Delete(ctx, []int64{om.Messages()[0].ID, om.Messages()[n-1].ID}); err != nil {
		t.Fatal(err)
	}
	om.Close()
	n -= 2
	check("after a delete by another process", n).Close()

	if got, err := other.Expire(ctx, a.ID, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || got != 2 {
		t.Fatalf("Expire: %d, %v", got, err)
	}
	n -= 2
	check("after an expiry by another process", n).Close()

	// IMAP's view of the same INBOX.
	inbox, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, inbox.ID, store.AppendMessage{Body: strings.NewReader("Subject: appended\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	n++
	check("after an IMAP APPEND", n).Close()
}
