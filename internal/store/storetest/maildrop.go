package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func testSnapshot(t *testing.T, s store.Store) {
	a := account(t, s, "snap@example.org")
	deliver(t, s, msgBody(1), a)
	m := open(t, s, a)
	deliver(t, s, msgBody(2), a)
	if got := len(m.Messages()); got != 1 {
		t.Errorf("snapshot grew to %d messages after a delivery", got)
	}
	// Deleting the snapshot's messages must not touch the newcomer.
	if err := m.Delete(context.Background(), ids(m.Messages())); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if got := bodies(t, s, a); len(got) != 1 || got[0] != msgBody(2) {
		t.Errorf("after reopening: %q, want only the message delivered while open", got)
	}
	_, err := s.OpenMaildrop(context.Background(), a.ID+1000)
	wantErr(t, "OpenMaildrop of an unknown account", err, store.ErrNotFound)
}

func testLock(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "lock@example.org")
	b := account(t, s, "free@example.org")
	m1, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.OpenMaildrop(ctx, a.ID)
	wantErr(t, "second OpenMaildrop", err, store.ErrLocked)
	mb, err := s.OpenMaildrop(ctx, b.ID)
	if err != nil {
		t.Errorf("another account's maildrop: %v", err)
	} else {
		mb.Close()
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	m2, err := s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatalf("OpenMaildrop after Close: %v", err)
	}
	// The first maildrop's late Close must not release the second's lock.
	m1.Close()
	_, err = s.OpenMaildrop(ctx, a.ID)
	wantErr(t, "OpenMaildrop after a stale Close", err, store.ErrLocked)
	m2.Close()
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "del@example.org")
	for i := range 5 {
		deliver(t, s, msgBody(i), a)
	}
	m := open(t, s, a)
	msgs := m.Messages()
	gone := []int64{msgs[1].ID, msgs[3].ID}
	if err := m.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, gone); err != nil {
		t.Errorf("deleting already deleted messages: %v", err)
	}
	if _, err := m.Body(ctx, gone[0]); err == nil {
		t.Errorf("Body of a deleted message succeeded")
	}
	if err := m.Delete(ctx, nil); err != nil {
		t.Errorf("Delete(nil): %v", err)
	}
	m.Close()
	got := bodies(t, s, a)
	if !slices.Equal(got, []string{msgBody(0), msgBody(2), msgBody(4)}) {
		t.Errorf("after Delete: %q", got)
	}
}

func testDeleteShared(t *testing.T, s store.Store) {
	a := account(t, s, "a@example.org")
	b := account(t, s, "b@example.org")
	deliver(t, s, msgBody(1), a, b)
	m := open(t, s, a)
	if err := m.Delete(context.Background(), ids(m.Messages())); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if got := bodies(t, s, a); len(got) != 0 {
		t.Errorf("a still has %d messages", len(got))
	}
	if got := bodies(t, s, b); len(got) != 1 || got[0] != msgBody(1) {
		t.Errorf("b's copy after a deleted its own: %q", got)
	}
}

func testExpire(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "exp@example.org")
	b := account(t, s, "other@example.org")
	for i := range 3 {
		deliver(t, s, msgBody(i), a, b)
	}
	t0 := date
	m := open(t, s, a)
	msgs := m.Messages()
	if err := m.MarkRetrieved(ctx, ids(msgs[:2]), t0); err != nil {
		t.Fatal(err)
	}
	// A later retrieval must not move the first one.
	if err := m.MarkRetrieved(ctx, ids(msgs[:1]), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n, err := s.Expire(ctx, a.ID, t0.Add(24*time.Hour))
	if err != nil || n != 0 {
		t.Errorf("Expire of a locked maildrop = %d, %v; want 0, nil", n, err)
	}
	m.Close()

	m = open(t, s, a)
	msgs = m.Messages()
	for i, msg := range msgs {
		want := time.Time{}
		if i < 2 {
			want = t0
		}
		if !msg.FirstRetrieved.Equal(want) {
			t.Errorf("message %d: FirstRetrieved %v, want %v", i, msg.FirstRetrieved, want)
		}
	}
	m.Close()

	if n, err := s.Expire(ctx, a.ID, t0); err != nil || n != 0 {
		t.Errorf("Expire(before == retrieval time) = %d, %v; want 0 (strictly before)", n, err)
	}
	// b retrieved one message too; expiring a only must leave it.
	mb := open(t, s, b)
	if err := mb.MarkRetrieved(ctx, ids(mb.Messages()[:1]), t0); err != nil {
		t.Fatal(err)
	}
	mb.Close()
	if n, err := s.Expire(ctx, a.ID, t0.Add(time.Second)); err != nil || n != 2 {
		t.Errorf("Expire(a) = %d, %v; want 2", n, err)
	}
	if got := bodies(t, s, a); !slices.Equal(got, []string{msgBody(2)}) {
		t.Errorf("a after Expire: %q", got)
	}
	if got := bodies(t, s, b); len(got) != 3 {
		t.Errorf("b after expiring a: %d messages, want 3", len(got))
	}
	if n, err := s.Expire(ctx, 0, t0.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("Expire(all) = %d, %v; want 1 (b's retrieved message)", n, err)
	}
	if got := bodies(t, s, b); !slices.Equal(got, []string{msgBody(1), msgBody(2)}) {
		t.Errorf("b after Expire(all): %q", got)
	}
}
