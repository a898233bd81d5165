package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func testDeliverOne(t *testing.T, s store.Store) {
	a := account(t, s, "one@example.org")
	err := s.Deliver(context.Background(), store.Delivery{
		Recipients:   []store.Recipient{{AccountID: a.ID}},
		Body:         strings.NewReader(msgBody(1)),
		InternalDate: date,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, s, a)
	msgs := m.Messages()
	if len(msgs) != 1 {
		t.Fatalf("Messages() has %d messages, want 1", len(msgs))
	}
	got := msgs[0]
	if got.ID == 0 || got.UIDL == "" || got.Size != int64(len(msgBody(1))) || got.DotLines ||
		!got.FirstRetrieved.IsZero() {
		t.Errorf("message = %+v, want id, UIDL, Size %d, no FirstRetrieved", got, len(msgBody(1)))
	}
	if l := list(t, s, getMailbox(t, s, a, "INBOX")); len(l) != 1 || !l[0].InternalDate.Equal(date) {
		t.Errorf("INBOX lists %+v, want one message of %v", l, date)
	}
	if b := read(t, m, got.ID); b != msgBody(1) {
		t.Errorf("Body = %q, want %q", b, msgBody(1))
	}
}

func testDeliverSeveral(t *testing.T, s store.Store) {
	a := account(t, s, "a@example.org")
	b := account(t, s, "b@other.example")
	deliver(t, s, msgBody(1), a, b)
	deliver(t, s, msgBody(2), b)
	if got := bodies(t, s, a); len(got) != 1 || got[0] != msgBody(1) {
		t.Errorf("a has %q", got)
	}
	if got := bodies(t, s, b); len(got) != 2 || got[0] != msgBody(1) || got[1] != msgBody(2) {
		t.Errorf("b has %q, want both messages in delivery order", got)
	}
}

func testLineEndings(t *testing.T, s store.Store) {
	a := account(t, s, "crlf@example.org")
	tests := []struct{ in, want string }{
		{"A: b\r\n\r\nkept\r\n", "A: b\r\n\r\nkept\r\n"},
		{"A: b\n\nbare lf\n", "A: b\r\n\r\nbare lf\r\n"},
		{"A: b\r\rbare cr\r", "A: b\r\n\r\nbare cr\r\n"},
		{"A: b\r\n\nmixed\r\rend", "A: b\r\n\r\nmixed\r\n\r\nend\r\n"},
		// Large enough to cross any internal buffer boundary.
		{strings.Repeat("line\n", 20000), strings.Repeat("line\r\n", 20000)},
		// Under 256 KiB as sent, over it once normalised, and over it
		// as sent (PostgreSQL: 256 KiB chunks, and a body sent over
		// 256 KiB is written before its delivery's batch).
		{strings.Repeat("line\n", 50000), strings.Repeat("line\r\n", 50000)},
		{strings.Repeat("line\n", 60000), strings.Repeat("line\r\n", 60000)},
		// Nothing at all: an engine must tell it from a missing body.
		{"", ""},
	}
	for _, tt := range tests {
		deliver(t, s, tt.in, a)
	}
	got := bodies(t, s, a) // also checks Size == octets read
	if len(got) != len(tests) {
		t.Fatalf("%d messages stored, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("message %d: stored %.60q, want %.60q", i, got[i], tt.want)
		}
	}
}

func testDotLines(t *testing.T, s store.Store) {
	a := account(t, s, "dots@example.org")
	tests := []struct {
		body string
		dot  bool
	}{
		{"A: b\r\n\r\nno dots here.\r\n", false},
		{"A: b\r\n\r\n.starts with a dot\r\n", true},
		{"A: b\n\n.\n", true},
		{".first line\r\n", true},
		{"A: b\r\n\r\nmid.dle\r\n", false},
	}
	for _, tt := range tests {
		deliver(t, s, tt.body, a)
	}
	m := open(t, s, a)
	for i, msg := range m.Messages() {
		if msg.DotLines != tests[i].dot {
			t.Errorf("message %q: DotLines %v, want %v", tests[i].body, msg.DotLines, tests[i].dot)
		}
	}
}

func testAllOrNothing(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "a@example.org")
	b := account(t, s, "b@example.org")
	if err := s.Deliver(ctx, store.Delivery{
		Recipients: []store.Recipient{{AccountID: b.ID, UIDL: "taken"}},
		Body:       strings.NewReader(msgBody(0)),
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rs   []store.Recipient
		want error
	}{
		{"unknown account", []store.Recipient{{AccountID: a.ID}, {AccountID: b.ID + a.ID + 1000}}, store.ErrNotFound},
		{"invalid UIDL", []store.Recipient{{AccountID: a.ID}, {AccountID: b.ID, UIDL: "has space"}}, store.ErrInvalid},
		{"UIDL taken", []store.Recipient{{AccountID: a.ID}, {AccountID: b.ID, UIDL: "taken"}}, store.ErrExists},
		{"UIDL given twice", []store.Recipient{{AccountID: a.ID, UIDL: "x"}, {AccountID: a.ID, UIDL: "x"}}, store.ErrExists},
	}
	for _, tt := range tests {
		err := s.Deliver(ctx, store.Delivery{Recipients: tt.rs, Body: strings.NewReader(msgBody(1))})
		wantErr(t, tt.name, err, tt.want)
	}
	if got := bodies(t, s, a); len(got) != 0 {
		t.Errorf("failed deliveries left %d messages for a", len(got))
	}
	if got := bodies(t, s, b); len(got) != 1 {
		t.Errorf("failed deliveries left %d messages for b, want only the first", len(got))
	}
}

func testUIDLGenerated(t *testing.T, s store.Store) {
	a := account(t, s, "uidl@example.org")
	other := account(t, s, "other@example.org")
	seen := map[string]bool{}
	check := func(msgs []store.MaildropMessage) {
		t.Helper()
		for _, m := range msgs {
			if !seen[m.UIDL] && !store.ValidUIDL(m.UIDL) {
				t.Errorf("generated UIDL %q is not 1-70 characters of 0x21-0x7E", m.UIDL)
			}
			seen[m.UIDL] = true
		}
	}
	for round := range 3 {
		for i := range 20 {
			deliver(t, s, msgBody(round*100+i), a, other)
		}
		m := open(t, s, a)
		msgs := m.Messages()
		uidls := map[string]bool{}
		for _, msg := range msgs {
			if uidls[msg.UIDL] {
				t.Fatalf("UIDL %q appears twice in one maildrop", msg.UIDL)
			}
			uidls[msg.UIDL] = true
		}
		before := len(seen)
		check(msgs)
		if round > 0 && len(seen) != before+20 {
			t.Fatalf("round %d: %d new UIDLs, want 20: a UIDL was reused after delete", round, len(seen)-before)
		}
		// Delete the newest half: the next round must not reuse their UIDLs.
		if err := m.Delete(context.Background(), ids(msgs[len(msgs)/2:])); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
}

func testUIDLImported(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "import@example.org")
	b := account(t, s, "b@example.org")
	long := strings.Repeat("u", 70)
	for _, u := range []string{"imported-1", long, "~!"} {
		if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID, UIDL: u}},
			Body: strings.NewReader(msgBody(1))}); err != nil {
			t.Fatalf("Deliver with UIDL %q: %v", u, err)
		}
	}
	for _, u := range []string{long + "u", "a b", "tab\t", "del\x7f", "ü"} {
		err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID, UIDL: u}},
			Body: strings.NewReader(msgBody(2))})
		wantErr(t, fmt.Sprintf("Deliver with UIDL %q", u), err, store.ErrInvalid)
	}
	err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID, UIDL: "imported-1"}},
		Body: strings.NewReader(msgBody(3))})
	wantErr(t, "Deliver with a duplicate UIDL", err, store.ErrExists)
	// Uniqueness is per account: another account may use the same UIDL.
	if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: b.ID, UIDL: "imported-1"}},
		Body: strings.NewReader(msgBody(4))}); err != nil {
		t.Errorf("same UIDL in another account: %v", err)
	}
	deliver(t, s, msgBody(5), a)
	m := open(t, s, a)
	var got []string
	for _, msg := range m.Messages() {
		got = append(got, msg.UIDL)
	}
	if len(got) != 4 || got[0] != "imported-1" || got[1] != long || got[2] != "~!" || got[3] == "" {
		t.Errorf("UIDLs = %q, want the three imported ones then a generated one", got)
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	a := account(t, s, "a@example.org")
	b := account(t, s, "b@example.org")
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				rs := []store.Recipient{{AccountID: a.ID}}
				if n%2 == 0 {
					rs = append(rs, store.Recipient{AccountID: b.ID})
				}
				if err := s.Deliver(context.Background(), store.Delivery{Recipients: rs,
					Body: strings.NewReader(msgBody(n))}); err != nil {
					t.Errorf("Deliver %d: %v", n, err)
				}
			}
		})
	}
	wg.Wait()
	for _, tt := range []struct {
		acct store.Account
		want int
	}{{a, workers * each}, {b, workers * each / 2}} {
		got := bodies(t, s, tt.acct)
		if len(got) != tt.want {
			t.Errorf("%s has %d messages, want %d", tt.acct.Address, len(got), tt.want)
		}
		m := open(t, s, tt.acct)
		uidls := map[string]bool{}
		for _, msg := range m.Messages() {
			if uidls[msg.UIDL] {
				t.Errorf("%s: UIDL %q twice", tt.acct.Address, msg.UIDL)
			}
			uidls[msg.UIDL] = true
		}
		m.Close()
	}
}
