package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// testSendLog: recipients add up per account over a window, a minute
// counts whole, old minutes are forgotten, accounts are apart, and an
// account's log goes with it.
func testSendLog(t *testing.T, s store.Store) {
	ctx := context.Background()
	alice := account(t, s, "alice@example.com")
	bob := account(t, s, "bob@example.com")
	t0 := time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)
	sent := func(a store.Account, since time.Time) int {
		t.Helper()
		n, err := s.RecipientsSent(ctx, a.ID, since)
		if err != nil {
			t.Fatalf("RecipientsSent: %v", err)
		}
		return n
	}
	record := func(a store.Account, at time.Time, n int) {
		t.Helper()
		if err := s.RecordSent(ctx, a.ID, at, n, at.Add(-time.Hour)); err != nil {
			t.Fatalf("RecordSent: %v", err)
		}
	}
	if n := sent(alice, t0.Add(-time.Hour)); n != 0 {
		t.Fatalf("nothing sent yet: %d", n)
	}
	record(alice, t0, 3)
	record(alice, t0.Add(10*time.Second), 2) // the same minute
	record(alice, t0.Add(30*time.Minute), 10)
	record(bob, t0, 7)
	if n := sent(alice, t0.Add(-time.Hour)); n != 15 {
		t.Errorf("alice's hour: %d, want 15", n)
	}
	if n := sent(bob, t0.Add(-time.Hour)); n != 7 {
		t.Errorf("bob's hour: %d, want 7", n)
	}
	// since inside t0's minute: that minute counts whole.
	if n := sent(alice, t0.Add(20*time.Second)); n != 15 {
		t.Errorf("from within the first minute: %d, want 15", n)
	}
	if n := sent(alice, t0.Add(time.Minute)); n != 10 {
		t.Errorf("from the next minute: %d, want 10", n)
	}
	// Two hours on, the first minutes are forgotten on the next record.
	record(alice, t0.Add(2*time.Hour), 1)
	if n := sent(alice, time.Time{}); n != 1 {
		t.Errorf("after forgetting: %d, want 1 (only the last send kept)", n)
	}
	if err := s.RecordSent(ctx, 1<<40, t0, 1, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordSent for no account: %v, want ErrNotFound", err)
	}
	if err := s.DeleteAccount(ctx, "alice@example.com"); err != nil {
		t.Fatalf("DeleteAccount with a send log: %v", err)
	}
	if n := sent(bob, t0.Add(-time.Hour)); n != 7 {
		t.Errorf("bob after alice's deletion: %d, want 7", n)
	}
}
