package sqlite

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// A kept snapshot (snapCache) must always equal a fresh listing, whatever
// changed the INBOX in between and whichever process changed it. "other"
// is a second Store on the same directory: another process, with its own
// cache and locks.
func TestKeptSnapshotsFollowEveryChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	other := openTest(t, dir, Options{})
	a := newAccount(t, s, "big@example.org")
	insertRows(t, s, a.ID, snapCacheMin)
	ctx := t.Context()

	// check opens the maildrop in s and compares it with a listing read
	// afresh by other; it returns s's maildrop, still open.
	check := func(step string, wantLen int) store.Maildrop {
		t.Helper()
		other.snaps.drop(a.ID)
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
	n := snapCacheMin
	check("first open", n).Close()
	m := check("kept", n)
	if s.snaps.m[a.ID] == nil || &s.snaps.m[a.ID].msgs[0] != &m.Messages()[0] {
		t.Fatal("the second open did not reuse the kept snapshot")
	}
	ids := []int64{m.Messages()[3].ID, m.Messages()[1000].ID}
	if err := m.MarkRetrieved(ctx, ids, time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.UTC)); err != nil {
		t.Fatal(err)
	}
	m.Close()
	check("after MarkRetrieved", n).Close()

	deliverTo(t, other, "Subject: new\r\n\r\nfrom another process\r\n", store.Recipient{AccountID: a.ID})
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

// What an open maildrop holds per message: its MaildropMessage (64 octets)
// and its UIDL (16 octets here). Issue 15 asked to shrink the ~104 of
// before (the arrival time was carried and never used by POP3).
func TestSnapshotMemoryPerMessage(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "mem@example.org")
	const n = 20000
	insertRows(t, s, a.ID, n)
	before := heapInUse()
	m, err := s.OpenMaildrop(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	after := heapInUse()
	per := (int64(after) - int64(before)) / n
	t.Logf("a %d-message snapshot holds %d octets per message", n, per)
	if per > 88 {
		t.Errorf("a snapshot holds %d octets per message, want at most 88 (64 + a 16-octet UIDL + slack)", per)
	}
	runtime.KeepAlive(m)
	m.Close()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
