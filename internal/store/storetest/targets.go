package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// testDeliverTargets checks Recipient.Mailbox, Create and Flags: the
// delivery targets a Sieve script or a plus-address chooses.
func testDeliverTargets(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "targets@example.org")
	b := account(t, s, "other@example.org")
	rs := []store.Recipient{
		{AccountID: a.ID, Mailbox: "Lists/Go", Create: true, Flags: []string{`\seen`, "$label1"}},
		{AccountID: a.ID, Mailbox: "Archive", Flags: []string{`\Flagged`}},
		{AccountID: a.ID, Mailbox: "inbox"},
		{AccountID: b.ID, Mailbox: "Missing"},            // no Create: INBOX
		{AccountID: b.ID, Mailbox: "bad*", Create: true}, // invalid: INBOX
	}
	if err := s.Deliver(ctx, store.Delivery{Recipients: rs, Body: strings.NewReader(msgBody(1)), InternalDate: date}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		who   store.Account
		box   string
		n     int
		flags []string
	}{
		{a, "Lists/Go", 1, []string{"$label1", store.FlagSeen}},
		{a, "Archive", 1, []string{store.FlagFlagged}},
		{a, "INBOX", 1, nil},
		{b, "INBOX", 2, nil},
	}
	for _, w := range want {
		msgs := list(t, s, getMailbox(t, s, w.who, w.box))
		if len(msgs) != w.n {
			t.Errorf("%s %s holds %d messages, want %d", w.who.Address, w.box, len(msgs), w.n)
			continue
		}
		if !slices.Equal(msgs[0].Flags, w.flags) || !msgs[0].InternalDate.Equal(date) {
			t.Errorf("%s %s: flags %q date %v, want %q %v", w.who.Address, w.box, msgs[0].Flags, msgs[0].InternalDate, w.flags, date)
		}
	}
	getMailbox(t, s, a, "Lists") // the parent was created too
	for _, name := range []string{"Missing", "bad*"} {
		if _, err := s.GetMailbox(ctx, b.ID, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMailbox(%q) = %v, want ErrNotFound: only Create creates", name, err)
		}
	}
	// The POP3 maildrop is INBOX alone.
	if got := bodies(t, s, a); len(got) != 1 {
		t.Errorf("maildrop of %s holds %d messages, want 1", a.Address, len(got))
	}

	// A failed delivery creates no mailbox either.
	err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{
		{AccountID: a.ID, Mailbox: "Rolled/Back", Create: true},
		{AccountID: a.ID + b.ID + 1000},
	}, Body: strings.NewReader(msgBody(2))})
	wantErr(t, "Deliver to an unknown account", err, store.ErrNotFound)
	for _, name := range []string{"Rolled", "Rolled/Back"} {
		if _, err := s.GetMailbox(ctx, a.ID, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMailbox(%q) after a failed delivery = %v, want ErrNotFound", name, err)
		}
	}
	// An existing target with Create is used, not created again.
	deliverTo(t, s, store.Recipient{AccountID: a.ID, Mailbox: "Lists/Go", Create: true})
	if n := len(list(t, s, getMailbox(t, s, a, "Lists/Go"))); n != 2 {
		t.Errorf("Lists/Go holds %d messages, want 2", n)
	}
}

func deliverTo(t *testing.T, s store.Store, rs ...store.Recipient) {
	t.Helper()
	if err := s.Deliver(context.Background(), store.Delivery{Recipients: rs, Body: strings.NewReader(msgBody(9))}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
}
