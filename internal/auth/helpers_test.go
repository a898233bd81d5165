package auth

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// brokenDirectory fails every lookup with err.
type brokenDirectory struct {
	store.Directory
	err error
}

func (b brokenDirectory) Account(ctx context.Context, address string) (store.Account, error) {
	return store.Account{}, b.err
}

// testDirectory returns the real SQLite engine in a temporary directory,
// with the domain example.org.
func testDirectory(t testing.TB) store.Directory {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := st.AddDomain(t.Context(), "example.org"); err != nil {
		t.Fatal(err)
	}
	return st
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// cheapArgon keeps tests fast; verification reads parameters from the
// stored string, so the code path is the production one.
var cheapArgon = argonParams{memory: 64, time: 1, threads: 1}

// fixture is a Service over a test directory with a fake clock.
type fixture struct {
	s     *Service
	dir   store.Directory
	clock *fakeClock
}

func newFixture(t testing.TB, o Options) *fixture {
	t.Helper()
	f := &fixture{dir: o.Directory, clock: newFakeClock()}
	if f.dir == nil {
		f.dir = testDirectory(t)
	}
	o.Directory = f.dir
	o.Now = f.clock.Now
	if o.DefaultDomain == "" {
		o.DefaultDomain = "example.org"
	}
	f.s = New(o)
	f.s.burnParams = cheapArgon
	return f
}

// credentials builds credentials like NewCredentials but with cheap argon2
// parameters.
func (f *fixture) credentials(t testing.TB, password string, legacy bool) store.Credentials {
	t.Helper()
	phc, err := f.s.hashPassword(t.Context(), password, cheapArgon)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := deriveSCRAM(password, []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	c := store.Credentials{PasswordHash: phc, SCRAMSHA256: keys.String()}
	if legacy {
		c.LegacySecret = password
	}
	return c
}

func (f *fixture) addAccount(t testing.TB, address, password string, legacy bool) store.Account {
	t.Helper()
	a, err := f.dir.CreateAccount(t.Context(), address, f.credentials(t, password, legacy))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
