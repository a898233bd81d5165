package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, t.TempDir(), Options{})
	})
}

// TestConformanceFiles runs the suite with every body in a file, so both
// body paths (inline and file) pass it.
func TestConformanceFiles(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, t.TempDir(), Options{InlineMax: -1})
	})
}

// TestShared runs the tests of several handles on one database with
// Stores on one data directory, as two processes would have them.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T, n int) []store.Store {
		dir := t.TempDir()
		var out []store.Store
		for range n {
			out = append(out, openTest(t, dir, Options{PollInterval: 50 * time.Millisecond}))
		}
		return out
	})
}

// openTest opens a Store in dir and closes it when the test ends.
func openTest(t testing.TB, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
