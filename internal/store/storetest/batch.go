package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// testDeliverBatch: DeliverBatch stores each delivery as Deliver would,
// all-or-nothing on its own (a fetched id recorded before, a quota, an
// unknown account fail alone), in the order given: the UIDs of a mailbox
// follow it, whatever is delivered at the same time.
func testDeliverBatch(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "batch@example.org")
	q := account(t, s, "small@example.org")
	if err := s.SetQuota(ctx, q.Address, 10); err != nil {
		t.Fatal(err)
	}
	src, err := s.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: "pop3://u@h/"})
	if err != nil {
		t.Fatal(err)
	}
	mark := func(id string) *store.FetchMark {
		return &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{ID: id}}
	}
	if err := s.AddFetchedIDs(ctx, src.ID, []store.FetchedID{{ID: "before"}}); err != nil {
		t.Fatal(err)
	}
	to := func(acc store.Account, box string) []store.Recipient {
		return []store.Recipient{{AccountID: acc.ID, Mailbox: box, Create: box != ""}}
	}
	ds := []store.Delivery{
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(0)), Fetched: mark("0")},
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(1)), Fetched: mark("before")},
		{Recipients: to(a, "Work"), Body: strings.NewReader(msgBody(2)), Fetched: mark("2")},
		{Recipients: to(q, ""), Body: strings.NewReader(msgBody(3)), Fetched: mark("3")},
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(4))},
		{Recipients: []store.Recipient{{AccountID: 1 << 40}}, Body: strings.NewReader(msgBody(5))},
		{Body: strings.NewReader(msgBody(6))}, // no recipients
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(7)), Fetched: mark("7")},
	}
	errs := s.DeliverBatch(ctx, ds)
	if len(errs) != len(ds) {
		t.Fatalf("DeliverBatch returned %d errors for %d deliveries", len(errs), len(ds))
	}
	for i, want := range []error{nil, store.ErrExists, nil, store.ErrQuota, nil, store.ErrNotFound, store.ErrInvalid, nil} {
		if want == nil && errs[i] != nil {
			t.Errorf("delivery %d: %v", i, errs[i])
		} else if want != nil {
			wantErr(t, fmt.Sprintf("delivery %d", i), errs[i], want)
		}
	}
	if got, want := bodies(t, s, a), []string{msgBody(0), msgBody(4), msgBody(7)}; !slices.Equal(got, want) {
		t.Errorf("INBOX holds %q, want %q", got, want)
	}
	if msgs := list(t, s, getMailbox(t, s, a, "Work")); len(msgs) != 1 {
		t.Errorf("Work holds %d messages, want 1 (created by the batch)", len(msgs))
	}
	if n := len(bodies(t, s, q)); n != 0 {
		t.Errorf("%d messages over quota", n)
	}
	got, err := s.FetchedIDs(ctx, src.ID, "")
	var names []string
	for _, id := range got {
		names = append(names, id.ID)
	}
	if err != nil || !slices.Equal(names, []string{"0", "2", "7", "before"}) {
		t.Errorf("FetchedIDs = %q, %v; want the stored ones and the one recorded before", names, err)
	}
	// Fetched messages only, to INBOX (the PostgreSQL engine's one
	// round trip): an id recorded before and an unknown source fail
	// alone, the rest is stored in order.
	ds = []store.Delivery{
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(8)), Fetched: mark("8")},
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(9)), Fetched: mark("0")},
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(10)), Fetched: &store.FetchMark{SourceID: 1 << 40, FetchedID: store.FetchedID{ID: "x"}}},
		{Recipients: to(a, ""), Body: strings.NewReader(msgBody(11)), Fetched: mark("11")},
	}
	errs = s.DeliverBatch(ctx, ds)
	for i, want := range []error{nil, store.ErrExists, store.ErrNotFound, nil} {
		if want == nil && errs[i] != nil {
			t.Errorf("fetched delivery %d: %v", i, errs[i])
		} else if want != nil {
			wantErr(t, fmt.Sprintf("fetched delivery %d", i), errs[i], want)
		}
	}
	if got, want := bodies(t, s, a), []string{msgBody(0), msgBody(4), msgBody(7), msgBody(8), msgBody(11)}; !slices.Equal(got, want) {
		t.Errorf("INBOX holds %q, want %q", got, want)
	}
	if errs := s.DeliverBatch(ctx, nil); len(errs) != 0 {
		t.Errorf("DeliverBatch(nil) = %v", errs)
	}

	// Batches and single deliveries at once: each batch's messages get
	// UIDs in its order.
	b := account(t, s, "order@example.org")
	const batches, per, singles = 4, 25, 40
	var wg sync.WaitGroup
	for g := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ds []store.Delivery
			for i := range per {
				ds = append(ds, store.Delivery{Recipients: to(b, ""), Body: strings.NewReader(fmt.Sprintf("Subject: b%d-%03d\r\n\r\nx\r\n", g, i))})
			}
			for i, err := range s.DeliverBatch(ctx, ds) {
				if err != nil {
					t.Errorf("batch %d delivery %d: %v", g, i, err)
				}
			}
		}()
	}
	for i := range singles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Deliver(ctx, store.Delivery{Recipients: to(b, ""), Body: strings.NewReader(fmt.Sprintf("Subject: s%d\r\n\r\nx\r\n", i))}); err != nil {
				t.Errorf("single %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	seen := map[string][]string{} // batch: its subjects in UID order
	n := 0
	for _, body := range bodies(t, s, b) {
		n++
		subject := strings.TrimPrefix(strings.SplitN(body, "\r\n", 2)[0], "Subject: ")
		if g, _, ok := strings.Cut(subject, "-"); ok {
			seen[g] = append(seen[g], subject)
		}
	}
	if n != batches*per+singles {
		t.Errorf("%d messages stored, want %d", n, batches*per+singles)
	}
	for g, subjects := range seen {
		if len(subjects) != per || !slices.IsSorted(subjects) {
			t.Errorf("batch %s in UID order: %q", g, subjects)
		}
	}
}
