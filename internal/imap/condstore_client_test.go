package imap

import (
	"fmt"
	"slices"
	"testing"

	goimap "github.com/emersion/go-imap/v2"
)

// go-imap's client (a third-party implementation, issue 9) speaks
// CONDSTORE with us: SELECT (CONDSTORE) gives HIGHESTMODSEQ, STORE and
// FETCH report MODSEQ, FETCH CHANGEDSINCE returns only what changed,
// STORE UNCHANGEDSINCE leaves a message changed meanwhile alone, SEARCH
// MODSEQ and STATUS HIGHESTMODSEQ agree.
func TestCondstoreGoClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	c := e.client(testUser, testPass, nil)
	sel, err := c.Select("INBOX", &goimap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	h0 := sel.HighestModSeq
	if h0 == 0 {
		t.Fatalf("SELECT (CONDSTORE): no HIGHESTMODSEQ in %+v", sel)
	}

	stored, err := c.Store(goimap.UIDSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagSeen}}, nil).Collect()
	if err != nil || len(stored) != 1 || stored[0].ModSeq <= h0 {
		t.Fatalf("UID STORE 2 +FLAGS (\\Seen): %+v %v", stored, err)
	}
	m2 := stored[0].ModSeq

	changed, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, Flags: true, ModSeq: true, ChangedSince: h0}).Collect()
	if err != nil || len(changed) != 1 || changed[0].UID != 2 || changed[0].ModSeq != m2 || storedFlags(changed[0].Flags) != `[\Seen]` {
		t.Fatalf("FETCH 1:3 (UID FLAGS MODSEQ) (CHANGEDSINCE %d): %+v %v (STORE gave MODSEQ %d)", h0, changed, err, m2)
	}
	if none, err := c.Fetch(goimap.SeqSetNum(1, 2, 3), &goimap.FetchOptions{UID: true, ChangedSince: m2}).Collect(); err != nil || len(none) != 0 {
		t.Errorf("FETCH CHANGEDSINCE the newest: %+v %v", none, err)
	}

	// Message 2 changed after h0: UNCHANGEDSINCE h0 must not touch it,
	// but does store message 1.
	_, err = c.Store(goimap.UIDSetNum(1, 2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagFlagged}},
		&goimap.StoreOptions{UnchangedSince: h0}).Collect()
	if err != nil {
		t.Fatalf("UID STORE 1:2 (UNCHANGEDSINCE %d): %v", h0, err)
	}
	after, err := c.Fetch(goimap.UIDSetNum(1, 2), &goimap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil || len(after) != 2 {
		t.Fatalf("UID FETCH 1:2: %+v %v", after, err)
	}
	if storedFlags(after[0].Flags) != `[\Flagged]` || after[0].ModSeq <= m2 {
		t.Errorf("message 1 after UNCHANGEDSINCE: %+v", after[0])
	}
	if storedFlags(after[1].Flags) != `[\Seen]` || after[1].ModSeq != m2 {
		t.Errorf("message 2 was changed despite UNCHANGEDSINCE: %+v", after[1])
	}
	m1 := after[0].ModSeq

	found, err := c.UIDSearch(&goimap.SearchCriteria{ModSeq: &goimap.SearchCriteriaModSeq{ModSeq: h0 + 1}}, nil).Wait()
	if err != nil || fmt.Sprint(found.AllUIDs()) != "[1 2]" || found.ModSeq != m1 {
		t.Errorf("UID SEARCH MODSEQ %d: %+v %v", h0+1, found, err)
	}
	st, err := c.Status("INBOX", &goimap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil || st.HighestModSeq != m1 {
		t.Errorf("STATUS INBOX (HIGHESTMODSEQ): %+v %v, want %d", st, err, m1)
	}
}

// storedFlags prints the stored flags of a message, without the session's
// \Recent (the client is an IMAP4rev1 one, and selected first).
func storedFlags(flags []goimap.Flag) string {
	return fmt.Sprint(slices.DeleteFunc(slices.Clone(flags), func(f goimap.Flag) bool { return f == `\Recent` }))
}
