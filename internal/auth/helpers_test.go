package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// memDirectory is a minimal in-memory store.Directory, used until the
// SQLite engine builds; it follows the store conventions that auth relies
// on (lower-case, case-insensitive lookups, ErrNotFound).
type memDirectory struct {
	mu       sync.Mutex
	domains  map[string]bool
	accounts map[string]store.Account
	nextID   int64
}

var _ store.Directory = (*memDirectory)(nil)

func newMemDirectory() *memDirectory {
	return &memDirectory{domains: map[string]bool{}, accounts: map[string]store.Account{}}
}

func (d *memDirectory) AddDomain(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.domains[strings.ToLower(name)] = true
	return nil
}

func (d *memDirectory) DeleteDomain(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.domains, strings.ToLower(name))
	return nil
}

func (d *memDirectory) Domains(ctx context.Context) ([]store.Domain, error) {
	return nil, errors.New("not needed")
}

func (d *memDirectory) CreateAccount(ctx context.Context, address string, c store.Credentials) (store.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	address = strings.ToLower(address)
	_, domain, _ := strings.Cut(address, "@")
	if !d.domains[domain] {
		return store.Account{}, store.ErrNotFound
	}
	if _, ok := d.accounts[address]; ok {
		return store.Account{}, store.ErrExists
	}
	d.nextID++
	a := store.Account{ID: d.nextID, Address: address, Domain: domain, Credentials: c, Created: time.Now()}
	d.accounts[address] = a
	return a, nil
}

func (d *memDirectory) SetCredentials(ctx context.Context, address string, c store.Credentials) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.accounts[strings.ToLower(address)]
	if !ok {
		return store.ErrNotFound
	}
	a.Credentials = c
	d.accounts[a.Address] = a
	return nil
}

func (d *memDirectory) DeleteAccount(ctx context.Context, address string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.accounts[strings.ToLower(address)]; !ok {
		return store.ErrNotFound
	}
	delete(d.accounts, strings.ToLower(address))
	return nil
}

func (d *memDirectory) Account(ctx context.Context, address string) (store.Account, error) {
	if err := ctx.Err(); err != nil {
		return store.Account{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.accounts[strings.ToLower(address)]
	if !ok {
		return store.Account{}, fmt.Errorf("account %q: %w", address, store.ErrNotFound)
	}
	return a, nil
}

func (d *memDirectory) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	return nil, errors.New("not needed")
}

// brokenDirectory fails every lookup with err.
type brokenDirectory struct {
	store.Directory
	err error
}

func (b brokenDirectory) Account(ctx context.Context, address string) (store.Account, error) {
	return store.Account{}, b.err
}

// testDirectory returns the directory the tests run against, with the
// domain example.org.
func testDirectory(t testing.TB) store.Directory {
	t.Helper()
	d := newMemDirectory()
	if err := d.AddDomain(t.Context(), "example.org"); err != nil {
		t.Fatal(err)
	}
	return d
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
