package postgres

import (
	"errors"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// A snapshot kept between sessions (store.SnapshotCache) must equal a
// fresh listing whatever changed the INBOX in between and on whichever
// node: n[1] is another node on the same database, with its own cache.
func TestKeptSnapshotsFollowEveryChange(t *testing.T) {
	n := nodes(t, 2, Options{})
	s, other := n[0], n[1]
	a := user(t, s, "big@example.org")
	insertCopies(t, s, a, store.SnapshotCacheMin)
	storetest.KeptSnapshots(t, s, other, a, store.SnapshotCacheMin, func() { other.snaps.Drop(a.ID) },
		func(m store.Maildrop) bool {
			kept := s.snaps.Kept(a.ID)
			return kept != nil && &kept[0] == &m.Messages()[0]
		})
	// A second session while one is open is refused, a kept snapshot
	// or not.
	m, err := s.OpenMaildrop(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := s.OpenMaildrop(t.Context(), a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}
