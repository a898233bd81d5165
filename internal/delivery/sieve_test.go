package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// countingStore is the real store, counting the active-script reads.
type countingStore struct {
	SieveStore
	reads atomic.Int64
}

func (c *countingStore) ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	c.reads.Add(1)
	return c.SieveStore.ActiveSieveScript(ctx, accountID)
}

// TestSieveScriptCache: deliveries read the active script only when the
// account's SieveVersion changed, and every change made through the
// store (as ManageSieve and `pochta sieve` make them) is seen by the next
// delivery: a new source, another script activated, a rename, none
// active, a script again.
func TestSieveScriptCache(t *testing.T) {
	f := newFiltering(t)
	cs := &countingStore{SieveStore: f.st}
	f.d.Filter.(*SieveFilter).Store = cs
	ctx := context.Background()
	alice := f.accts["alice@example.org"]
	reads := int64(0)
	expect := func(what, mailbox string, newReads int64) {
		t.Helper()
		before := f.count(t, "alice@example.org", mailbox)
		f.deliver(t, "dan@remote.example", plainMsg, "alice@example.org")
		if got := f.count(t, "alice@example.org", mailbox); got != before+1 {
			t.Errorf("%s: %s holds %d messages, want %d", what, mailbox, got, before+1)
		}
		reads += newReads
		if got := cs.reads.Load(); got != reads {
			t.Errorf("%s: %d reads of the active script so far, want %d", what, got, reads)
		}
	}
	expect("no script", "INBOX", 1)
	expect("no script, again", "INBOX", 0)
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox"]; fileinto :create "One";`)
	expect("a script", "One", 1)
	for range 3 {
		expect("the same script", "One", 0)
	}
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox"]; fileinto :create "Two";`)
	expect("the script replaced", "Two", 1)
	if err := f.st.PutSieveScript(ctx, alice.ID, "other", `require ["fileinto", "mailbox"]; fileinto :create "Three";`); err != nil {
		t.Fatal(err)
	}
	expect("another script stored, not active", "Two", 1)
	if err := f.st.ActivateSieveScript(ctx, alice.ID, "other"); err != nil {
		t.Fatal(err)
	}
	expect("the other activated", "Three", 1)
	if err := f.st.RenameSieveScript(ctx, alice.ID, "other", "renamed"); err != nil {
		t.Fatal(err)
	}
	expect("renamed", "Three", 1)
	if err := f.st.ActivateSieveScript(ctx, alice.ID, ""); err != nil {
		t.Fatal(err)
	}
	expect("none active", "INBOX", 1)
	expect("none active, again", "INBOX", 0)
	if err := f.st.ActivateSieveScript(ctx, alice.ID, "main"); err != nil {
		t.Fatal(err)
	}
	expect("the first again", "Two", 1)

	// An Account not read from the store (SieveVersion 0) reads the
	// active script for every message.
	for i := range 2 {
		err := f.d.Deliver(ctx, Message{From: "dan@remote.example", Local: []store.Account{{ID: alice.ID, Address: alice.Address}},
			Body: strings.NewReader(plainMsg)})
		if err != nil {
			t.Fatal(err)
		}
		if got := cs.reads.Load(); got != reads+int64(i)+1 {
			t.Errorf("without a version: %d reads, want %d", got, reads+int64(i)+1)
		}
	}
}
