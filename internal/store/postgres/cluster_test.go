package postgres

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// Tests with several engine handles on one schema: what two nodes of a
// cluster see of each other. TestShared runs the ones both engines pass
// (storetest.RunShared); the rest are this engine's own: lease fencing,
// and the abilities only a cluster needs (shared login throttling and
// LOGIN-DELAY, sweeps once per cluster).

func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		var out []store.Store
		for _, s := range nodes(t, n, Options{}) {
			out = append(out, s)
		}
		return out
	})
}

// nodes opens n handles on one fresh schema.
func nodes(t *testing.T, n int, o Options) []*Store {
	t.Helper()
	dsn := pgtest.Database(t)
	o.Schema = "cluster"
	var out []*Store
	for range n {
		out = append(out, openTest(t, dsn, o))
	}
	return out
}

func user(t testing.TB, s *Store, address string) store.Account {
	t.Helper()
	ctx := context.Background()
	domain := address[strings.IndexByte(address, '@')+1:]
	if err := s.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, address, store.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func deliver(t testing.TB, s *Store, a store.Account, body string) {
	t.Helper()
	err := s.Deliver(context.Background(), store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}},
		Body: strings.NewReader(body)})
	if err != nil {
		t.Error(err)
	}
}

// TestMaildropLeaseFencing plays a node that stalls past its lease: the
// other node takes the maildrop over, and the stalled session's QUIT can
// no longer delete anything.
func TestMaildropLeaseFencing(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{LockLease: time.Second})
	a := user(t, n[0], "stall@example.org")
	deliver(t, n[0], a, "Subject: keep me\r\n\r\nbody\r\n")
	m, err := n[0].OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n[0].locks.stop() // the node stalls: no more renewals
	var m2 store.Maildrop
	for m2 == nil {
		m2, err = n[1].OpenMaildrop(ctx, a.ID)
		if err != nil && !errors.Is(err, store.ErrLocked) {
			t.Fatal(err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond) // until the lease runs out
		}
	}
	defer m2.Close()
	if err := m.Delete(ctx, ids(m.Messages())); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Delete by the session whose lease ran out: %v, want ErrLocked", err)
	}
	if err := m.MarkRetrieved(ctx, ids(m.Messages()), time.Now()); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("MarkRetrieved by the session whose lease ran out: %v, want ErrLocked", err)
	}
	if got := len(m2.Messages()); got != 1 {
		t.Fatalf("the new session sees %d messages, want 1", got)
	}
	// The stale session's Close must not release the new owner's lock.
	m.Close()
	if _, err := n[0].OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("OpenMaildrop after the stale Close: %v, want ErrLocked", err)
	}
}

func ids(msgs []store.MaildropMessage) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// TestThrottleAcrossNodes: failed logins counted on one node slow the
// next guess on the other (auth.SharedThrottle).
func TestThrottleAcrossNodes(t *testing.T) {
	n := nodes(t, 2, Options{})
	svc := []*auth.Service{auth.New(auth.Options{Directory: n[0]}), auth.New(auth.Options{Directory: n[1]})}
	var none netip.Addr // count the login only
	for range 2 {
		if d := svc[0].FailureDelay("victim@example.org", none); d != 0 {
			t.Fatalf("delay %v within the free failures", d)
		}
	}
	if d := svc[1].FailureDelay("Victim@example.org", none); d == 0 {
		t.Fatal("the third failure, on another node, is not delayed")
	}
	svc[0].LoginSucceeded("victim@example.org", none)
	if d := svc[1].FailureDelay("victim@example.org", none); d != 0 {
		t.Fatalf("after a success on the other node: delay %v", d)
	}
}

// TestLoginDelayAcrossNodes: a POP3 login on one node is seen by the
// other's LOGIN-DELAY (pop3.SharedLoginTimes).
func TestLoginDelayAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a := user(t, n[0], "delay@example.org")
	var shared pop3.SharedLoginTimes = n[1]
	if last, err := shared.LastPOP3Login(ctx, a.ID); err != nil || !last.IsZero() {
		t.Fatalf("before any login: %v, %v", last, err)
	}
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := n[0].RecordPOP3Login(ctx, a.ID, at); err != nil {
		t.Fatal(err)
	}
	if err := n[0].RecordPOP3Login(ctx, a.ID, at.Add(-time.Hour)); err != nil { // an older one changes nothing
		t.Fatal(err)
	}
	if last, err := shared.LastPOP3Login(ctx, a.ID); err != nil || !last.Equal(at) {
		t.Fatalf("the other node reads %v, %v; want %v", last, err, at)
	}
}

// TestClaimJobOncePerCluster: of two nodes scheduling the same sweep, one
// runs it per interval.
func TestClaimJobOncePerCluster(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	for i, want := range []bool{true, false} {
		if ok, err := n[i].ClaimJob(ctx, "expire", time.Hour); err != nil || ok != want {
			t.Fatalf("node %d: ClaimJob = %v, %v; want %v", i, ok, err, want)
		}
	}
	if ok, err := n[1].ClaimJob(ctx, "other", time.Hour); err != nil || !ok {
		t.Fatalf("another job: %v, %v", ok, err)
	}
	if ok, err := n[1].ClaimJob(ctx, "expire", 0); err != nil || !ok {
		t.Fatalf("after the interval: %v, %v", ok, err)
	}
}
