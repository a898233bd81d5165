package storetest

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// usage returns an account's quota and usage as the store reports them.
func usage(t *testing.T, s store.Store, a store.Account) (quota, used int64) {
	t.Helper()
	got, err := s.Account(context.Background(), a.Address)
	if err != nil {
		t.Fatal(err)
	}
	return got.Quota, got.Used
}

func testQuota(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "quota@example.org")
	b := account(t, s, "roomy@example.org")
	if q, u := usage(t, s, a); q != 0 || u != 0 {
		t.Fatalf("new account: quota %d, used %d; want 0, 0", q, u)
	}
	body := strings.Repeat("x", 98) + "\r\n" // 100 octets
	deliver(t, s, body, a, b)
	deliver(t, s, body, a)
	if _, u := usage(t, s, a); u != 200 {
		t.Errorf("used = %d after two 100-octet messages, want 200", u)
	}
	if err := s.SetQuota(ctx, "QUOTA@example.org", 250); err != nil {
		t.Fatal(err)
	}
	if q, _ := usage(t, s, a); q != 250 {
		t.Errorf("quota = %d, want 250", q)
	}
	// 300 > 250: refused, for every recipient (b has room, gets nothing).
	err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: b.ID}, {AccountID: a.ID}},
		Body: strings.NewReader(body)})
	wantErr(t, "Deliver over quota", err, store.ErrQuota)
	if n := len(bodies(t, s, b)); n != 1 {
		t.Errorf("b has %d messages after a refused delivery, want 1", n)
	}
	// Exactly at the quota is fine.
	deliver(t, s, strings.Repeat("y", 48)+"\r\n", a)
	if _, u := usage(t, s, a); u != 250 {
		t.Errorf("used = %d, want 250", u)
	}
	// Deleting frees space.
	m := open(t, s, a)
	if err := m.Delete(ctx, ids(m.Messages()[:1])); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, u := usage(t, s, a); u != 150 {
		t.Errorf("used = %d after deleting 100 octets, want 150", u)
	}
	if err := s.SetQuota(ctx, a.Address, 0); err != nil {
		t.Fatal(err)
	}
	deliver(t, s, strings.Repeat("z", 1000), a)
	wantErr(t, "SetQuota of an unknown account", s.SetQuota(ctx, "nobody@example.org", 1), store.ErrNotFound)
	wantErr(t, "SetQuota negative", s.SetQuota(ctx, a.Address, -1), store.ErrInvalid)
}

func testQueue(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "local@example.org")
	env := &store.Envelope{
		From: "local@example.org",
		Recipients: []store.QueueRecipient{
			{Address: "one@far.example", Notify: "SUCCESS,FAILURE", ORcpt: "rfc822;one@far.example"},
			{Address: "two@far.example"},
		},
		DSNReturn: "HDRS", DSNEnvelopeID: "env-1", SMTPUTF8: true,
	}
	body := "Subject: out\n\nhello\n"
	// Local and remote recipients in one delivery share the body.
	err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
		Body: strings.NewReader(body), InternalDate: date, Outbound: env})
	if err != nil {
		t.Fatal(err)
	}
	// Remote only, with a local-only prefix that the queue skips.
	err = s.Deliver(ctx, store.Delivery{Body: strings.NewReader("Return-Path: <>\r\nsecond\r\n"),
		Outbound: &store.Envelope{Recipients: []store.QueueRecipient{{Address: "three@far.example"}}, LocalPrefix: 17}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Deliver(ctx, store.Delivery{Body: strings.NewReader("x"), Outbound: &store.Envelope{}})
	wantErr(t, "Deliver with an empty envelope", err, store.ErrInvalid)

	q, err := s.QueuedMessages(ctx)
	if err != nil || len(q) != 2 {
		t.Fatalf("QueuedMessages = %+v, %v; want 2", q, err)
	}
	got := q[0]
	crlf := "Subject: out\r\n\r\nhello\r\n"
	if got.Envelope.From != env.From || got.Envelope.DSNReturn != "HDRS" || got.Envelope.DSNEnvelopeID != "env-1" ||
		!got.Envelope.SMTPUTF8 || len(got.Envelope.Recipients) != 2 || got.Envelope.Recipients[0] != env.Recipients[0] ||
		got.Envelope.Recipients[1] != env.Recipients[1] || got.Size != int64(len(crlf)) || !got.Created.Equal(date) {
		t.Errorf("queued message = %+v", got)
	}
	if q[1].Envelope.From != "" || len(q[1].Envelope.Recipients) != 1 || q[1].ID <= got.ID || q[1].Size != 8 {
		t.Errorf("second queued message = %+v", q[1])
	}
	if b := queuedBody(t, s, q[1].ID); b != "second\r\n" {
		t.Errorf("QueuedBody with LocalPrefix = %q, want %q", b, "second\r\n")
	}
	one, err := s.QueuedMessage(ctx, got.ID)
	if err != nil || one.ID != got.ID || len(one.Envelope.Recipients) != 2 {
		t.Errorf("QueuedMessage = %+v, %v", one, err)
	}
	if b := queuedBody(t, s, got.ID); b != crlf {
		t.Errorf("QueuedBody = %q, want %q", b, crlf)
	}
	// Deleting the queue entry leaves the local copy, and the other way round.
	if err := s.DeleteQueued(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	if b := bodies(t, s, a); len(b) != 1 || b[0] != crlf {
		t.Errorf("local copy after DeleteQueued: %q", b)
	}
	_, err = s.QueuedMessage(ctx, got.ID)
	wantErr(t, "QueuedMessage after DeleteQueued", err, store.ErrNotFound)
	_, err = s.QueuedBody(ctx, got.ID)
	wantErr(t, "QueuedBody after DeleteQueued", err, store.ErrNotFound)
	wantErr(t, "DeleteQueued twice", s.DeleteQueued(ctx, got.ID), store.ErrNotFound)

	err = s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
		Body: strings.NewReader("shared\r\n"), Outbound: &store.Envelope{Recipients: []store.QueueRecipient{{Address: "x@far.example"}}}})
	if err != nil {
		t.Fatal(err)
	}
	m := open(t, s, a)
	if err := m.Delete(ctx, ids(m.Messages())); err != nil {
		t.Fatal(err)
	}
	m.Close()
	q, _ = s.QueuedMessages(ctx)
	if len(q) != 2 {
		t.Fatalf("queue has %d messages, want 2", len(q))
	}
	if b := queuedBody(t, s, q[1].ID); b != "shared\r\n" {
		t.Errorf("queued copy after the local one was deleted: %q", b)
	}
	// A failing local recipient queues nothing either.
	err = s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID + 1000}},
		Body: strings.NewReader("no\r\n"), Outbound: &store.Envelope{Recipients: []store.QueueRecipient{{Address: "y@far.example"}}}})
	wantErr(t, "Deliver to an unknown account", err, store.ErrNotFound)
	if q, _ := s.QueuedMessages(ctx); len(q) != 2 {
		t.Errorf("failed delivery queued something: %d messages", len(q))
	}
}

func queuedBody(t *testing.T, s store.Store, id int64) string {
	t.Helper()
	r, err := s.QueuedBody(context.Background(), id)
	if err != nil {
		t.Fatalf("QueuedBody(%d): %v", id, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
