package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// newAccount creates address in a fresh or existing domain.
func newAccount(t testing.TB, s *Store, address string) store.Account {
	t.Helper()
	ctx := context.Background()
	if err := s.AddDomain(ctx, address[strings.IndexByte(address, '@')+1:]); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, address, store.Credentials{PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func deliverTo(t testing.TB, s *Store, body string, rs ...store.Recipient) {
	t.Helper()
	if err := s.Deliver(context.Background(), store.Delivery{Recipients: rs, Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

// bodyFiles lists the body files under dir/messages.
func bodyFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, bodiesDir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// contents reads every message of a's maildrop in order.
func contents(t testing.TB, s *Store, a store.Account) []string {
	t.Helper()
	return storetest.Bodies(t, s, a.ID)
}

func TestSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "keep@example.org")
	deliverTo(t, s, "one\r\n", store.Recipient{AccountID: a.ID})
	deliverTo(t, s, "two\r\n", store.Recipient{AccountID: a.ID, UIDL: "imported"})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	s = openTest(t, dir, Options{})
	got, err := s.Account(ctx, "keep@example.org")
	if err != nil || got.ID != a.ID {
		t.Fatalf("account after reopen: %+v, %v", got, err)
	}
	if c := contents(t, s, a); len(c) != 2 || c[0] != "one\r\n" || c[1] != "two\r\n" {
		t.Errorf("messages after reopen: %q", c)
	}
	var versions int
	if err := s.reader.QueryRow(`SELECT count(*) FROM schema_version`).Scan(&versions); err != nil || versions != len(migrations) {
		t.Errorf("schema_version has %d rows (%v), want %d", versions, err, len(migrations))
	}
}

func TestBodyFilesSharedAndRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{InlineMax: -1})
	a := newAccount(t, s, "a@example.org")
	b := newAccount(t, s, "b@example.org")
	deliverTo(t, s, "shared\r\n", store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
	if n := len(bodyFiles(t, dir)); n != 1 {
		t.Fatalf("%d body files for one message to two recipients, want 1", n)
	}
	deleteAll := func(acct store.Account) {
		m, err := s.OpenMaildrop(context.Background(), acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var ids []int64
		for _, msg := range m.Messages() {
			ids = append(ids, msg.ID)
		}
		if err := m.Delete(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
	}
	deleteAll(a)
	if n := len(bodyFiles(t, dir)); n != 1 {
		t.Fatalf("body file gone while b still references it (%d files)", n)
	}
	deleteAll(b)
	if n := len(bodyFiles(t, dir)); n != 0 {
		t.Errorf("%d body files left after the last reference went", n)
	}

	deliverTo(t, s, "x\r\n", store.Recipient{AccountID: a.ID}, store.Recipient{AccountID: b.ID})
	deliverTo(t, s, "y\r\n", store.Recipient{AccountID: a.ID})
	if err := s.DeleteAccount(context.Background(), "a@example.org"); err != nil {
		t.Fatal(err)
	}
	if n := len(bodyFiles(t, dir)); n != 1 {
		t.Errorf("after DeleteAccount: %d body files, want 1 (b's shared copy)", n)
	}
}

func TestOrphanSweep(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	later := now.Add(orphanAge) // when the next sweep is due
	s, err := Open(context.Background(), dir, Options{Now: func() time.Time { return now }, InlineMax: -1})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "a@example.org")
	deliverTo(t, s, "kept\r\n", store.Recipient{AccountID: a.ID})
	s.Close()
	referenced := bodyFiles(t, dir)[0]

	// file creates (or, for referenced, ages) a body file modified at mtime.
	file := func(path string, mtime time.Time) string {
		if path != referenced {
			path = filepath.Join(dir, bodiesDir, path[:2], path)
			if err := os.WriteFile(path, []byte("half a message"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	old := file("00aa", later.Add(-2*orphanAge))
	young := file("ffbb", later.Add(-10*time.Minute))
	file(referenced, later.Add(-48*time.Hour)) // age alone must not condemn it

	// The first Open swept, so the next one within the hour does not.
	s = openTest(t, dir, Options{Now: func() time.Time { return now }, InlineMax: -1})
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("swept again within the hour: %v", err)
	}
	s.Close()

	// Another process has the store open (it may be writing "young"):
	// only old orphans go.
	other := holdUsersLock(t, dir)
	s = openTest(t, dir, Options{Now: func() time.Time { return later }, InlineMax: -1})
	other.Close()
	for _, tt := range []struct {
		path string
		want bool
	}{{old, false}, {young, true}, {referenced, true}} {
		_, err := os.Stat(tt.path)
		if exists := err == nil; exists != tt.want {
			t.Errorf("%s: exists %v after the sweep, want %v", tt.path, exists, tt.want)
		}
	}
	if c := contents(t, s, a); len(c) != 1 || c[0] != "kept\r\n" {
		t.Errorf("message after sweep: %q", c)
	}
}

// TestPeriodicOrphanSweep: with SweepEvery, an open store removes an
// orphan left after it opened (by a killed `pochta deliver`, say) once it
// is old enough, without reopening; a young one and a referenced file
// stay.
func TestPeriodicOrphanSweep(t *testing.T) {
	dir := t.TempDir()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	s := openTest(t, dir, Options{Now: now, InlineMax: -1, SweepEvery: time.Millisecond})
	a := newAccount(t, s, "a@example.org")
	deliverTo(t, s, "kept\r\n", store.Recipient{AccountID: a.ID})
	referenced := bodyFiles(t, dir)[0]
	orphan := func(name string, age time.Duration) string {
		path := filepath.Join(dir, bodiesDir, name[:2], name)
		if err := os.WriteFile(path, []byte("half a message"), 0o600); err != nil {
			t.Fatal(err)
		}
		mtime := now().Add(orphanAge - age) // as old as age once the clock moves on
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return path
	}
	old := orphan("00cc", 2*orphanAge)
	young := orphan("ffdd", 10*time.Minute)
	clock.Add(int64(orphanAge + time.Second)) // the next sweep is due
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old orphan is still there 10 s after its sweep was due")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, path := range []string{young, referenced} {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("%s: %v after the sweep", path, err)
		}
	}
	if c := contents(t, s, a); len(c) != 1 || c[0] != "kept\r\n" {
		t.Errorf("message after sweep: %q", c)
	}
}

// TestTwoProcesses runs two Stores on one directory, as `pochta deliver`
// and `pochta serve` do, delivering concurrently.
func TestTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	s1 := openTest(t, dir, Options{})
	a := newAccount(t, s1, "a@example.org")
	s2 := openTest(t, dir, Options{})
	const each = 30
	var wg sync.WaitGroup
	for i, s := range []*Store{s1, s2, s1, s2} {
		wg.Go(func() {
			for j := range each {
				err := s.Deliver(context.Background(), store.Delivery{
					Recipients: []store.Recipient{{AccountID: a.ID}},
					Body:       strings.NewReader(fmt.Sprintf("from %d message %d\r\n", i, j)),
				})
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []*Store{s1, s2} {
		got := contents(t, s, a)
		if len(got) != 4*each {
			t.Errorf("%d messages, want %d", len(got), 4*each)
		}
		seen := map[string]bool{}
		for _, b := range got {
			seen[b] = true
		}
		if len(seen) != 4*each {
			t.Errorf("%d distinct bodies, want %d", len(seen), 4*each)
		}
	}
}

func TestGeneratedUIDLAvoidsImported(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	a := newAccount(t, s, "a@example.org")
	deliverTo(t, s, "first\r\n", store.Recipient{AccountID: a.ID})
	m, err := s.OpenMaildrop(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	first := m.Messages()[0].UIDL
	m.Close()
	// Import the UIDL the third delivery (UID 3) would generate.
	next := first[:8] + fmt.Sprintf("%08x", 3)
	deliverTo(t, s, "imported\r\n", store.Recipient{AccountID: a.ID, UIDL: next})
	deliverTo(t, s, "third\r\n", store.Recipient{AccountID: a.ID})
	m, err = s.OpenMaildrop(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	msgs := m.Messages()
	if len(msgs) != 3 || msgs[1].UIDL != next || msgs[2].UIDL == next || !strings.HasPrefix(msgs[2].UIDL, next) {
		t.Errorf("UIDLs %q, %q, %q: want the third to be a variant of the imported %q",
			msgs[0].UIDL, msgs[1].UIDL, msgs[2].UIDL, next)
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("connection reset")
	}
	r.n--
	return copy(p, "some text\n"), nil
}

func TestFailedBodyLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	a := newAccount(t, s, "a@example.org")
	err := s.Deliver(context.Background(), store.Delivery{
		Recipients: []store.Recipient{{AccountID: a.ID}},
		Body:       &failingReader{n: 3},
	})
	if err == nil || errors.Is(err, store.ErrTemporary) {
		t.Errorf("Deliver with a failing reader: %v; want the reader's error, not ErrTemporary", err)
	}
	err = s.Deliver(context.Background(), store.Delivery{
		Recipients: []store.Recipient{{AccountID: a.ID + 1}},
		Body:       strings.NewReader("to nobody\r\n"),
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Deliver to an unknown account: %v", err)
	}
	if files := bodyFiles(t, dir); len(files) != 0 {
		t.Errorf("failed deliveries left files: %q", files)
	}
	if c := contents(t, s, a); len(c) != 0 {
		t.Errorf("failed delivery stored %q", c)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	if _, err := s.writer.Exec(`INSERT INTO schema_version (version, applied) VALUES (?, 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(context.Background(), dir, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted a database migrated by a newer program")
	}
}

// holdUsersLock is another process with the store open.
func holdUsersLock(t *testing.T, dir string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, usersLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// With the store to itself, Open with Recover (pochta serve after a
// crash) removes every unreferenced body file, however young, and keeps
// everything committed; with another process in, it leaves young files
// alone (they may be that process's delivery in progress).
func TestRecoverAfterCrash(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{InlineMax: -1})
	a := newAccount(t, s, "a@example.org")
	deliverTo(t, s, "kept\r\n", store.Recipient{AccountID: a.ID})
	s.Close()
	orphan := filepath.Join(dir, bodiesDir, "7f", "0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(orphan, []byte("half a message"), 0o600); err != nil {
		t.Fatal(err)
	}

	other := holdUsersLock(t, dir)
	s = openTest(t, dir, Options{InlineMax: -1, Recover: true})
	s.Close()
	if _, err := os.Stat(orphan); err != nil {
		t.Fatalf("young orphan removed while another process had the store open: %v", err)
	}
	other.Close()

	s = openTest(t, dir, Options{InlineMax: -1, Recover: true})
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("orphan still there after recovery: %v", err)
	}
	if c := contents(t, s, a); len(c) != 1 || c[0] != "kept\r\n" {
		t.Errorf("message after recovery: %q", c)
	}
	// The lock is shared again: a second opener does not wait.
	openTest(t, dir, Options{InlineMax: -1}).Close()
}
