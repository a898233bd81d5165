package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func TestCheckPassword(t *testing.T) {
	f := newFixture(t, Options{Separators: "+%"})
	alice := f.addAccount(t, "alice@example.org", "correct horse", false)
	if _, err := f.dir.CreateAccount(t.Context(), "nohash@example.org", store.Credentials{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.dir.CreateAccount(t.Context(), "badhash@example.org", store.Credentials{PasswordHash: "$argon2id$garbage"}); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"alice@example.org", "Alice", "ALICE+example.org", "alice%Example.org"} {
		a, err := f.s.CheckPassword(t.Context(), login, "correct horse")
		if err != nil || a.ID != alice.ID || a.Address != "alice@example.org" {
			t.Errorf("CheckPassword(%q) = %+v, %v", login, a, err)
		}
	}
	for _, c := range []struct{ login, password string }{
		{"alice@example.org", "Correct horse"},
		{"alice@example.org", "correct horse "},
		{"alice@example.org", ""},
		{"alice@example.org", string(make([]byte, maxPasswordLen+1))},
		{"bob@example.org", "correct horse"},
		{"alice@example.com", "correct horse"},
		{" alice@example.org", "correct horse"},
		{"nohash@example.org", ""},
		{"nohash@example.org", "x"},
		{"badhash@example.org", "x"},
	} {
		if _, err := f.s.CheckPassword(t.Context(), c.login, c.password); err != ErrFailed {
			t.Errorf("CheckPassword(%q, %q) = %v, want exactly ErrFailed", c.login, c.password, err)
		}
	}
}

// Unknown accounts cost one argon2id run too, so timing does not tell which
// accounts exist; known accounts cost exactly one.
func TestCheckPasswordRunsArgonOnce(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: -1})
	f.addAccount(t, "alice@example.org", "pw", false)
	for _, login := range []string{"alice", "alice", "nobody"} {
		before := f.s.argonRuns.Load()
		f.s.CheckPassword(t.Context(), login, "wrong")
		if n := f.s.argonRuns.Load() - before; n != 1 {
			t.Errorf("CheckPassword(%q): %d argon2id runs, want 1", login, n)
		}
	}
}

func TestCheckPasswordBackendFailure(t *testing.T) {
	for _, backend := range []error{store.ErrTemporary, errors.New("disk on fire")} {
		f := newFixture(t, Options{Directory: brokenDirectory{err: backend}})
		_, err := f.s.CheckPassword(t.Context(), "alice", "pw")
		if !errors.Is(err, store.ErrTemporary) || errors.Is(err, ErrFailed) {
			t.Errorf("backend %v: err = %v, want store.ErrTemporary and not ErrFailed", backend, err)
		}
	}
}

func TestCheckPasswordCancelled(t *testing.T) {
	f := newFixture(t, Options{})
	f.addAccount(t, "alice@example.org", "pw", false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := f.s.CheckPassword(ctx, "alice", "pw")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrFailed) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestCacheHitSkipsArgon(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: time.Minute})
	f.addAccount(t, "alice@example.org", "pw", false)
	check := func(password string, wantErr error, wantRuns int64) {
		t.Helper()
		before := f.s.argonRuns.Load()
		_, err := f.s.CheckPassword(t.Context(), "alice@example.org", password)
		if !errors.Is(err, wantErr) && err != wantErr {
			t.Fatalf("CheckPassword(%q) = %v, want %v", password, err, wantErr)
		}
		if n := f.s.argonRuns.Load() - before; n != wantRuns {
			t.Fatalf("CheckPassword(%q): %d argon2id runs, want %d", password, n, wantRuns)
		}
	}
	check("pw", nil, 1)          // cold
	check("pw", nil, 0)          // cached
	check("Alice", ErrFailed, 1) // a wrong password is always checked
	check("wrong", ErrFailed, 1)
	check("pw", nil, 0) // still cached
	f.clock.Advance(time.Minute)
	check("pw", nil, 1) // expired
	check("pw", nil, 0)
}

func TestCacheDisabled(t *testing.T) {
	f := newFixture(t, Options{CacheTTL: -1})
	f.addAccount(t, "alice@example.org", "pw", false)
	for range 2 {
		before := f.s.argonRuns.Load()
		if _, err := f.s.CheckPassword(t.Context(), "alice", "pw"); err != nil {
			t.Fatal(err)
		}
		if f.s.argonRuns.Load() == before {
			t.Fatal("CheckPassword skipped argon2id with the cache disabled")
		}
	}
}

func TestCachePasswordChangeTakesEffectAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	f.addAccount(t, "alice@example.org", "old", false)
	if _, err := f.s.CheckPassword(t.Context(), "alice", "old"); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.SetCredentials(t.Context(), "alice@example.org", f.credentials(t, "new", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CheckPassword(t.Context(), "alice", "old"); err != ErrFailed {
		t.Errorf("old password after change: %v, want ErrFailed", err)
	}
	if _, err := f.s.CheckPassword(t.Context(), "alice", "new"); err != nil {
		t.Errorf("new password after change: %v", err)
	}
	// Changing back to the old password gives a new hash (new salt): the
	// old cache entry must not count, the check must run again.
	if err := f.dir.SetCredentials(t.Context(), "alice@example.org", f.credentials(t, "old", false)); err != nil {
		t.Fatal(err)
	}
	before := f.s.argonRuns.Load()
	if _, err := f.s.CheckPassword(t.Context(), "alice", "old"); err != nil {
		t.Fatal(err)
	}
	if f.s.argonRuns.Load() == before {
		t.Error("cache hit against a hash the password was not verified with")
	}
}

func TestCacheDeletedAccountFails(t *testing.T) {
	f := newFixture(t, Options{})
	f.addAccount(t, "alice@example.org", "pw", false)
	if _, err := f.s.CheckPassword(t.Context(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := f.dir.DeleteAccount(t.Context(), "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CheckPassword(t.Context(), "alice", "pw"); err != ErrFailed {
		t.Errorf("deleted account: %v, want ErrFailed", err)
	}
	// Re-created with the same password: a new hash, so no stale hit.
	f.addAccount(t, "alice@example.org", "pw", false)
	before := f.s.argonRuns.Load()
	if _, err := f.s.CheckPassword(t.Context(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if f.s.argonRuns.Load() == before {
		t.Error("re-created account matched a cache entry of the deleted one")
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCredCache(time.Hour, [32]byte{1})
	now := time.Unix(0, 0)
	for i := range cacheMaxEntries + 10 {
		c.add("a@example.org", string(rune(i+1000)), "hash", now)
	}
	if n := c.m.len(); n != cacheMaxEntries {
		t.Errorf("cache holds %d entries, want %d", n, cacheMaxEntries)
	}
	if c.hit("a@example.org", string(rune(1000)), "hash", now) {
		t.Error("oldest entry survived eviction")
	}
	if !c.hit("a@example.org", string(rune(cacheMaxEntries+1009)), "hash", now) {
		t.Error("newest entry was evicted")
	}
}

// The RFC 1939 §7 example: APOP mrose c4c9334bac560ecc979e58001b3e22fb.
func TestCheckAPOP(t *testing.T) {
	const banner = "<1896.697170952@dbc.mtview.ca.us>"
	f := newFixture(t, Options{Legacy: true})
	mrose := f.addAccount(t, "mrose@example.org", "tanstaaf", true)
	f.addAccount(t, "modern@example.org", "tanstaaf", false)
	for _, digest := range []string{"c4c9334bac560ecc979e58001b3e22fb", "C4C9334BAC560ECC979E58001B3E22FB"} {
		a, err := f.s.CheckAPOP(t.Context(), "mrose", banner, digest)
		if err != nil || a.ID != mrose.ID {
			t.Errorf("CheckAPOP(%s) = %+v, %v", digest, a, err)
		}
	}
	for _, c := range []struct{ login, banner, digest string }{
		{"mrose", banner, "c4c9334bac560ecc979e58001b3e22fc"},
		{"mrose", banner, "c4c9334bac560ecc979e58001b3e22f"},
		{"mrose", banner, ""},
		{"mrose", "<1896.697170953@dbc.mtview.ca.us>", "c4c9334bac560ecc979e58001b3e22fb"},
		{"modern", banner, "c4c9334bac560ecc979e58001b3e22fb"}, // no legacy secret
		{"nobody", banner, "c4c9334bac560ecc979e58001b3e22fb"},
		{"", banner, "c4c9334bac560ecc979e58001b3e22fb"},
	} {
		if _, err := f.s.CheckAPOP(t.Context(), c.login, c.banner, c.digest); err != ErrFailed {
			t.Errorf("CheckAPOP(%q, %q, %q) = %v, want ErrFailed", c.login, c.banner, c.digest, err)
		}
	}

	off := newFixture(t, Options{Directory: f.dir})
	if _, err := off.s.CheckAPOP(t.Context(), "mrose", banner, "c4c9334bac560ecc979e58001b3e22fb"); err != ErrFailed {
		t.Errorf("APOP with Legacy off = %v, want ErrFailed", err)
	}
	if off.s.LegacyEnabled() || !f.s.LegacyEnabled() {
		t.Error("LegacyEnabled does not follow Options.Legacy")
	}
}
