package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func testFetchSources(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "owner@example.org")
	b := account(t, s, "other@example.org")
	src, err := s.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: "pop3s://u@pop.example/",
		Password: "secret", Delete: true, Interval: 5 * time.Minute})
	if err != nil {
		t.Fatalf("AddFetchSource: %v", err)
	}
	if src.ID == 0 || src.Account != a.Address || src.Created.IsZero() {
		t.Errorf("AddFetchSource returned %+v", src)
	}
	src2, err := s.AddFetchSource(ctx, store.FetchSource{AccountID: b.ID, URL: "imaps://v@imap.example/INBOX"})
	if err != nil {
		t.Fatalf("AddFetchSource: %v", err)
	}
	_, err = s.AddFetchSource(ctx, store.FetchSource{AccountID: 1 << 40, URL: "pop3://x@y/"})
	wantErr(t, "AddFetchSource for an unknown account", err, store.ErrNotFound)
	_, err = s.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID})
	wantErr(t, "AddFetchSource without URL", err, store.ErrInvalid)

	got, err := s.FetchSource(ctx, src.ID)
	if err != nil || got.URL != src.URL || got.Password != "secret" || !got.Delete ||
		got.Interval != 5*time.Minute || got.Account != a.Address || !got.LastRun.IsZero() || !got.Created.Equal(src.Created) {
		t.Errorf("FetchSource = %+v, %v; want %+v", got, err, src)
	}
	_, err = s.FetchSource(ctx, 1<<40)
	wantErr(t, "FetchSource unknown", err, store.ErrNotFound)
	all, err := s.ListFetchSources(ctx, 0)
	if err != nil || len(all) != 2 || all[0].ID != src.ID || all[1].ID != src2.ID {
		t.Errorf("ListFetchSources(0) = %+v, %v", all, err)
	}
	one, err := s.ListFetchSources(ctx, b.ID)
	if err != nil || len(one) != 1 || one[0].ID != src2.ID || one[0].Account != b.Address {
		t.Errorf("ListFetchSources(b) = %+v, %v", one, err)
	}

	// Runs: a failure counts up, a success resets the count and adds.
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := s.RecordFetchRun(ctx, src.ID, store.FetchRun{At: at, Error: "connection refused"}); err != nil {
		t.Fatalf("RecordFetchRun: %v", err)
	}
	s.RecordFetchRun(ctx, src.ID, store.FetchRun{At: at, Error: "connection refused", Fetched: 2})
	got, _ = s.FetchSource(ctx, src.ID)
	if got.Failures != 2 || got.LastError != "connection refused" || got.Fetched != 2 || !got.LastRun.Equal(at) {
		t.Errorf("after two failed runs: %+v", got)
	}
	s.RecordFetchRun(ctx, src.ID, store.FetchRun{At: at.Add(time.Minute), Fetched: 3})
	got, _ = s.FetchSource(ctx, src.ID)
	if got.Failures != 0 || got.LastError != "" || got.Fetched != 5 || !got.LastRun.Equal(at.Add(time.Minute)) {
		t.Errorf("after a good run: %+v", got)
	}
	wantErr(t, "RecordFetchRun unknown", s.RecordFetchRun(ctx, 1<<40, store.FetchRun{}), store.ErrNotFound)

	// Ids, per scope.
	ids := []store.FetchedID{{Scope: "INBOX", ID: "7/2", Fingerprint: "fp2"}, {Scope: "INBOX", ID: "7/1"},
		{Scope: "Sent", ID: "9/1"}}
	if err := s.AddFetchedIDs(ctx, src.ID, ids); err != nil {
		t.Fatalf("AddFetchedIDs: %v", err)
	}
	if err := s.AddFetchedIDs(ctx, src.ID, ids[:1]); err != nil { // again: no error
		t.Fatalf("AddFetchedIDs again: %v", err)
	}
	inbox, err := s.FetchedIDs(ctx, src.ID, "INBOX")
	if err != nil || len(inbox) != 2 || inbox[0] != (store.FetchedID{Scope: "INBOX", ID: "7/1"}) || inbox[1] != ids[0] {
		t.Errorf("FetchedIDs(INBOX) = %+v, %v", inbox, err)
	}
	if other, _ := s.FetchedIDs(ctx, src2.ID, "INBOX"); len(other) != 0 {
		t.Errorf("another source sees %+v", other)
	}
	wantErr(t, "AddFetchedIDs for an unknown source", s.AddFetchedIDs(ctx, 1<<40, ids[:1]), store.ErrNotFound)
	if err := s.ForgetFetchedIDs(ctx, src.ID, "INBOX", []string{"7/1", "absent"}); err != nil {
		t.Fatalf("ForgetFetchedIDs: %v", err)
	}
	if inbox, _ := s.FetchedIDs(ctx, src.ID, "INBOX"); len(inbox) != 1 || inbox[0].ID != "7/2" {
		t.Errorf("after forgetting: %+v", inbox)
	}
	if sent, _ := s.FetchedIDs(ctx, src.ID, "Sent"); len(sent) != 1 {
		t.Errorf("forgetting in INBOX touched Sent: %+v", sent)
	}

	if err := s.DeleteFetchSource(ctx, src.ID); err != nil {
		t.Fatalf("DeleteFetchSource: %v", err)
	}
	wantErr(t, "DeleteFetchSource again", s.DeleteFetchSource(ctx, src.ID), store.ErrNotFound)
	if left, _ := s.FetchedIDs(ctx, src.ID, "Sent"); len(left) != 0 {
		t.Errorf("ids outlive their source: %+v", left)
	}
	// Deleting the account deletes its sources.
	if err := s.DeleteAccount(ctx, b.Address); err != nil {
		t.Fatalf("DeleteAccount with a fetch source: %v", err)
	}
	if all, _ := s.ListFetchSources(ctx, 0); len(all) != 0 {
		t.Errorf("sources outlive their account: %+v", all)
	}
}

// testFetchMark: a delivery records its FetchedID in its own transaction,
// and a second delivery of the same id stores nothing.
func testFetchMark(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "owner@example.org")
	q := account(t, s, "quota@example.org")
	if err := s.SetQuota(ctx, q.Address, 10); err != nil {
		t.Fatal(err)
	}
	src, err := s.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: "pop3://u@h/"})
	if err != nil {
		t.Fatal(err)
	}
	mark := &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{ID: "uidl-1", Fingerprint: "f"}}
	d := func(to store.Account, m *store.FetchMark) error {
		return s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: to.ID}},
			Body: strings.NewReader(msgBody(1)), Fetched: m})
	}
	if err := d(a, mark); err != nil {
		t.Fatalf("Deliver with a FetchMark: %v", err)
	}
	wantErr(t, "Deliver of a fetched id again", d(a, mark), store.ErrExists)
	if n := len(bodies(t, s, a)); n != 1 {
		t.Errorf("%d messages after a duplicate fetch, want 1", n)
	}
	ids, err := s.FetchedIDs(ctx, src.ID, "")
	if err != nil || len(ids) != 1 || ids[0] != mark.FetchedID {
		t.Errorf("FetchedIDs = %+v, %v; want %+v", ids, err, mark.FetchedID)
	}
	// A delivery that fails records nothing.
	over := &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{ID: "uidl-2"}}
	wantErr(t, "Deliver over quota", d(q, over), store.ErrQuota)
	if ids, _ := s.FetchedIDs(ctx, src.ID, ""); len(ids) != 1 {
		t.Errorf("a failed delivery recorded its id: %+v", ids)
	}
	wantErr(t, "Deliver with an unknown source", d(a, &store.FetchMark{SourceID: 1 << 40}), store.ErrNotFound)
	if n := len(bodies(t, s, a)); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}
