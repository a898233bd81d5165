package postgres

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// cacheChange is what a node's directory cache did: dropped k, or (zero
// k) was reset, on or off.
type cacheChange struct {
	k    cacheKey
	live bool
}

// watchCache reports what s's cache drops and its resets.
func watchCache(t *testing.T, s *Store) <-chan cacheChange {
	ch := make(chan cacheChange, 10_000)
	s.cache.setObserver(func(k cacheKey, live bool) {
		select {
		case ch <- cacheChange{k, live}:
		default:
			t.Error("cache watch: too many changes unread")
		}
	})
	t.Cleanup(func() { s.cache.setObserver(nil) })
	return ch
}

// waitFor reads ch until a change matches; the bound only fails a broken
// test, nothing waits for it to pass.
func waitFor(t *testing.T, ch <-chan cacheChange, what string, match func(cacheChange) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case c := <-ch:
			if match(c) {
				return
			}
		case <-deadline:
			t.Fatalf("the cache never saw %s", what)
		}
	}
}

// waitDropped waits until the cache dropped each of keys, in any order:
// the node heard of the change.
func waitDropped(t *testing.T, ch <-chan cacheChange, keys ...cacheKey) {
	t.Helper()
	for _, k := range keys {
		waitFor(t, ch, "a change of "+k.name+strconv.FormatInt(k.id, 10), func(c cacheChange) bool {
			keys = slices.DeleteFunc(keys, func(k cacheKey) bool { return k == c.k })
			return len(keys) == 0
		})
		return
	}
}

// mustBeCached fails unless s answers k from memory: otherwise a test of
// the change's arrival would prove nothing.
func mustBeCached(t *testing.T, s *Store, k cacheKey) {
	t.Helper()
	if _, ok, _ := s.cache.get(k); !ok {
		t.Fatalf("%+v is not cached", k)
	}
}

// TestDirectoryCacheAcrossNodes: node B answers domains, aliases and
// active Sieve scripts from its cache; each change node A commits reaches
// B by its notification, after which B answers the new state. An account
// A removed is never delivered to by B.
func TestDirectoryCacheAcrossNodes(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a, b := n[0], n[1]
	watch := watchCache(t, b)

	// A domain: B's negative answer, then the domain A added.
	if _, err := b.Domain(ctx, "new.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B: Domain before AddDomain: %v", err)
	}
	mustBeCached(t, b, domainKey("new.example"))
	if err := a.AddDomain(ctx, "New.Example"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, domainKey("new.example"))
	if d, err := b.Domain(ctx, "NEW.example"); err != nil || d.Name != "new.example" {
		t.Fatalf("B: Domain after A's AddDomain: %+v, %v", d, err)
	}
	mustBeCached(t, b, domainKey("new.example"))

	// An alias: added, widened, removed.
	target := user(t, a, "target@new.example")
	waitDropped(t, watch, accountKey("target@new.example"))
	res := &delivery.Resolver{Dir: b}
	if _, err := b.Alias(ctx, "al@new.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B: Alias before AddAlias: %v", err)
	}
	mustBeCached(t, b, aliasKey("al@new.example"))
	steps := []struct {
		change func() error
		want   []string // nil: no alias
	}{
		{func() error { return a.AddAlias(ctx, "al@new.example", []string{"target@new.example"}) },
			[]string{"target@new.example"}},
		{func() error { return a.AddAlias(ctx, "al@new.example", []string{"far@remote.example"}) },
			[]string{"far@remote.example", "target@new.example"}},
		{func() error { return a.DeleteAlias(ctx, "al@new.example", []string{"far@remote.example"}) },
			[]string{"target@new.example"}},
		{func() error { return a.DeleteAlias(ctx, "al@new.example", nil) }, nil},
	}
	for i, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		waitDropped(t, watch, aliasKey("al@new.example"))
		al, err := b.Alias(ctx, "al@new.example")
		if st.want == nil {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("step %d: B: Alias: %+v, %v; want ErrNotFound", i, al, err)
			}
		} else if err != nil || !slices.Equal(al.Targets, st.want) {
			t.Fatalf("step %d: B: Alias: %+v, %v; want %q", i, al, err, st.want)
		}
		mustBeCached(t, b, aliasKey("al@new.example"))
	}

	// The active Sieve script: none, one, its new source, none again.
	if _, err := b.ActiveSieveScript(ctx, target.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B: ActiveSieveScript before any: %v", err)
	}
	mustBeCached(t, b, scriptKey(target.ID))
	version := target.SieveVersion
	scripts := []struct {
		change func() error
		want   string // "": none active
	}{
		{func() error { return a.PutSieveScript(ctx, target.ID, "main", "keep;") }, ""},
		{func() error { return a.ActivateSieveScript(ctx, target.ID, "main") }, "keep;"},
		{func() error { return a.PutSieveScript(ctx, target.ID, "main", "discard;") }, "discard;"},
		{func() error { return a.RenameSieveScript(ctx, target.ID, "main", "other") }, "discard;"},
		{func() error { return a.ActivateSieveScript(ctx, target.ID, "") }, ""},
	}
	for i, st := range scripts {
		if _, err := b.Account(ctx, "target@new.example"); err != nil {
			t.Fatal(err)
		}
		mustBeCached(t, b, accountKey("target@new.example"))
		if err := st.change(); err != nil {
			t.Fatalf("script step %d: %v", i, err)
		}
		waitDropped(t, watch, scriptKey(target.ID), accountKey("target@new.example"))
		if got, err := b.Account(ctx, "target@new.example"); err != nil || got.SieveVersion == version {
			t.Fatalf("script step %d: B: Account: %+v, %v; want a SieveVersion other than %d", i, got, err, version)
		} else {
			version = got.SieveVersion
		}
		sc, err := b.ActiveSieveScript(ctx, target.ID)
		if st.want == "" {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("script step %d: B: ActiveSieveScript: %+v, %v; want ErrNotFound", i, sc, err)
			}
		} else if err != nil || sc.Source != st.want {
			t.Fatalf("script step %d: B: ActiveSieveScript: %+v, %v; want %q", i, sc, err, st.want)
		}
		mustBeCached(t, b, scriptKey(target.ID))
	}

	// Password and quota.
	if _, err := b.Account(ctx, "Target@new.example"); err != nil {
		t.Fatal(err)
	}
	mustBeCached(t, b, accountKey("target@new.example"))
	if err := a.SetCredentials(ctx, "target@new.example", store.Credentials{PasswordHash: "new-hash"}); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, accountKey("target@new.example"))
	if got, err := b.Account(ctx, "target@new.example"); err != nil || got.Credentials.PasswordHash != "new-hash" {
		t.Fatalf("B: Account after A's SetCredentials: %+v, %v", got, err)
	}
	mustBeCached(t, b, accountKey("target@new.example"))
	if err := a.SetQuota(ctx, "target@new.example", 12345); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, accountKey("target@new.example"))
	if got, err := b.Account(ctx, "target@new.example"); err != nil || got.Quota != 12345 {
		t.Fatalf("B: Account after A's SetQuota: %+v, %v", got, err)
	}

	// Removal: B resolved the address through an alias (now cached), A
	// removes the account and the alias; once B heard of it, B resolves
	// neither, and a delivery for the account B resolved before fails.
	if err := a.AddAlias(ctx, "via@new.example", []string{"target@new.example"}); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, aliasKey("via@new.example"))
	if r, err := res.Resolve(ctx, "via@new.example"); err != nil || len(r.Accounts) != 1 || r.Accounts[0].ID != target.ID {
		t.Fatalf("B: Resolve via the alias: %+v, %v", r, err)
	}
	mustBeCached(t, b, aliasKey("via@new.example"))
	if err := a.DeleteAlias(ctx, "via@new.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAccount(ctx, "target@new.example"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, aliasKey("via@new.example"))
	waitDropped(t, watch, accountKey("target@new.example"))
	for _, addr := range []string{"via@new.example", "target@new.example"} {
		if r, err := res.Resolve(ctx, addr); !errors.Is(err, delivery.ErrUnknownUser) {
			t.Errorf("B: Resolve(%s) after the removal: %+v, %v; want ErrUnknownUser", addr, r, err)
		}
	}
	err := b.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: target.ID}}, Body: strings.NewReader("Subject: x\r\n\r\nx\r\n")})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("B: Deliver to the removed account: %v, want ErrNotFound", err)
	}

	// The domain, removed.
	if err := a.DeleteDomain(ctx, "new.example"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, domainKey("new.example"))
	if _, err := res.Resolve(ctx, "any@new.example"); !errors.Is(err, delivery.ErrNotLocal) {
		t.Errorf("B: Resolve after the domain's removal: %v, want ErrNotLocal", err)
	}
}

// TestDirectoryCacheUsage: a cached account's usage is exact after
// deliveries and removals on either node; this node's deliveries keep
// the entry.
func TestDirectoryCacheUsage(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a, b := n[0], n[1]
	watch := watchCache(t, b)
	acct := user(t, a, "used@example.org")
	waitDropped(t, watch, accountKey("used@example.org"))
	const msg = "Subject: x\r\n\r\nbody\r\n"
	want := int64(0)
	check := func(step string) {
		t.Helper()
		got, err := b.Account(ctx, "used@example.org")
		if err != nil || got.Used != want {
			t.Fatalf("%s: B: Account: used %d, %v; want %d", step, got.Used, err, want)
		}
	}
	check("new")
	mustBeCached(t, b, accountKey("used@example.org"))

	// B's own deliveries: the entry stays, with the usage the commit left.
	for range 3 {
		deliver(t, b, acct, msg)
		want += int64(len(msg))
		mustBeCached(t, b, accountKey("used@example.org"))
		check("after B's delivery")
	}
	// Deliveries at once from many sessions on B.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliver(t, b, acct, msg)
		}()
	}
	wg.Wait()
	want += 20 * int64(len(msg))
	check("after 20 deliveries at once on B")

	// A's delivery: B drops the entry when it hears of it.
	deliver(t, a, acct, msg)
	want += int64(len(msg))
	waitDropped(t, watch, accountKey("used@example.org"))
	check("after A's delivery")
	mustBeCached(t, b, accountKey("used@example.org"))

	// Removals on A, then on B.
	for i, s := range []*Store{a, b} {
		m, err := s.OpenMaildrop(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Delete(ctx, []int64{m.Messages()[0].ID})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		want -= int64(len(msg))
		if i == 0 {
			waitDropped(t, watch, accountKey("used@example.org"))
		}
		check("after a removal")
		mustBeCached(t, b, accountKey("used@example.org"))
	}
}

// TestDirectoryCacheListenerLost: when a node's listening connection
// breaks, its cache is emptied and answers nothing until LISTEN works
// again, so a change made meanwhile (its notification lost) is seen at
// once; after the reconnection the cache works again.
func TestDirectoryCacheListenerLost(t *testing.T) {
	ctx := context.Background()
	n := nodes(t, 2, Options{})
	a, b := n[0], n[1]
	watch := watchCache(t, b)
	if _, err := b.Domain(ctx, "lost.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal(err)
	}
	mustBeCached(t, b, domainKey("lost.example"))

	// Every listener of the database loses its connection.
	if _, err := a.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, watch, "the reset after the lost connection", func(c cacheChange) bool { return c.k == cacheKey{} && !c.live })
	// B may be listening again already, or not: either way its cache
	// was emptied, and the change is seen without its notification.
	if err := a.AddDomain(ctx, "lost.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Domain(ctx, "lost.example"); err != nil {
		t.Fatalf("B: Domain after A's AddDomain, listener lost: %v", err)
	}

	waitFor(t, watch, "LISTEN again", func(c cacheChange) bool { return c.k == cacheKey{} && c.live })
	if _, err := b.Domain(ctx, "lost.example"); err != nil {
		t.Fatal(err)
	}
	mustBeCached(t, b, domainKey("lost.example"))
	if err := a.DeleteDomain(ctx, "lost.example"); err != nil {
		t.Fatal(err)
	}
	waitDropped(t, watch, domainKey("lost.example"))
	if _, err := b.Domain(ctx, "lost.example"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("B: Domain after A's DeleteDomain, listening again: %v", err)
	}
}

// TestDirectoryCacheBounds: the cache holds at most its bound, stores
// nothing while off, and drops a fill that read the database while an
// invalidation came.
func TestDirectoryCacheBounds(t *testing.T) {
	c := newDirCache(3)
	c.reset(true)
	for i := range 10 {
		_, _, gen := c.get(scriptKey(int64(i)))
		c.put(scriptKey(int64(i)), cacheEntry{}, gen)
		if c.len() > 3 {
			t.Fatalf("%d entries, bound 3", c.len())
		}
	}
	_, _, gen := c.get(domainKey("a.example"))
	c.invalidate(domainKey("b.example"))
	c.put(domainKey("a.example"), cacheEntry{found: true}, gen)
	if _, ok, _ := c.get(domainKey("a.example")); ok {
		t.Error("a fill older than an invalidation was stored")
	}
	c.reset(false)
	_, _, gen = c.get(domainKey("a.example"))
	c.put(domainKey("a.example"), cacheEntry{found: true}, gen)
	if c.len() != 0 {
		t.Error("the cache stored a fill while off")
	}
}

// TestDirectoryCacheDelivered: a batch's usage goes into the entries
// stored before it started (the larger usage wins); an entry read while
// it ran is dropped.
func TestDirectoryCacheDelivered(t *testing.T) {
	c := newDirCache(10)
	c.reset(true)
	fill := func(addr string, id, used int64) {
		_, _, gen := c.get(accountKey(addr))
		c.put(accountKey(addr), cacheEntry{v: store.Account{ID: id, Address: addr, Used: used}, found: true}, gen)
	}
	usage := func(addr string) (int64, bool) {
		e, ok, _ := c.get(accountKey(addr))
		if !ok {
			return 0, false
		}
		return e.v.(store.Account).Used, true
	}
	fill("a@x", 1, 100)
	mark1 := c.mark()
	mark2 := c.mark()
	c.invalidate(domainKey("x")) // meanwhile, something else changed
	fill("b@x", 2, 500)          // read while the batches ran
	c.delivered(mark2, map[int64]int64{1: 300, 2: 600})
	c.delivered(mark1, map[int64]int64{1: 200}) // committed first, reported last
	if u, ok := usage("a@x"); !ok || u != 300 {
		t.Errorf("a: %d, %v; want 300", u, ok)
	}
	if _, ok := usage("b@x"); ok {
		t.Error("b, read while the batch ran, is still cached")
	}
	c.accountChanged(1)
	if _, ok := usage("a@x"); ok {
		t.Error("a is cached after its messages changed")
	}
}

func FuzzParseDirPayload(f *testing.F) {
	for _, p := range []string{"* dir domain example.org", "* dir alias @example.org", "* dir sieve 42",
		"* dir sieve x", "* dir", "node 1 2 3", "* dir alias a b"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		k, ok := parseDirPayload(p)
		if !ok {
			return
		}
		var again string
		switch k.kind {
		case cacheDomain:
			again = "* dir domain " + k.name
		case cacheAlias:
			again = "* dir alias " + k.name
		case cacheScript:
			again = "* dir sieve " + strconv.FormatInt(k.id, 10)
		default:
			t.Fatalf("%q: kind %d", p, k.kind)
		}
		if k2, ok := parseDirPayload(again); !ok || k2 != k {
			t.Fatalf("%q: %+v, again %+v", p, k, k2)
		}
	})
}
