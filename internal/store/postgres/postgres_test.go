package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// TestConformance runs the store conformance suite: one database for the
// run, a schema of its own for every engine the suite opens.
func TestConformance(t *testing.T) {
	dsn := pgtest.Database(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTest(t, dsn, Options{Schema: fmt.Sprintf("s%d", n.Add(1))})
	})
}

// openTest opens a Store and closes it when the test ends.
func openTest(t testing.TB, dsn string, o Options) *Store {
	t.Helper()
	if o.MaxConns == 0 {
		o.MaxConns = 4
	}
	s, err := Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestTombstonesPruned runs the pruning case of the conformance suite
// with 4 tombstones kept.
func TestTombstonesPruned(t *testing.T) {
	s := openTest(t, pgtest.Database(t), Options{Schema: "prune", KeepExpunged: 4})
	storetest.Pruning(t, s, 4)
}
