package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Deleting must work on a full disk: it is what frees space, yet SQLite
// needs room in the WAL to commit a DELETE. The store keeps a reserve, a
// file of allocated blocks in the data directory; a transaction that only
// frees space (POP3 QUIT, IMAP EXPUNGE, deleting an account) and fails for
// lack of space releases the reserve and tries once more. The reserve is
// allocated again at the next such transaction or Open with room for it.
// While it is missing, deliveries are refused (temporarily): the room the
// reserve gave up is for deletions, not for more mail.

const reserveFile = "reserve.space"

// DefaultReserve is the reserve's size: enough WAL for deleting many
// thousands of messages in one transaction.
const DefaultReserve = 8 << 20

func (s *Store) reservePath() string { return filepath.Join(s.dir, reserveFile) }

// ensureReserve allocates the reserve unless it exists (whole) or is
// disabled. Failure (no room yet) is not an error: it is tried again.
func (s *Store) ensureReserve() {
	if s.reserve <= 0 {
		return
	}
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if fi, err := os.Stat(s.reservePath()); err == nil && fi.Size() >= s.reserve {
		s.reserveGone.Store(false)
		return
	}
	f, err := os.OpenFile(s.reservePath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, s.reserve)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = f.Truncate(0)
		if err == nil {
			_, err = f.Write(make([]byte, s.reserve))
		}
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		// Half a reserve would only mislead the next check.
		os.Remove(s.reservePath())
		s.reserveGone.Store(true)
		s.log.Warn("no room for the disk-full reserve yet: deliveries are refused until there is", "bytes", s.reserve, "err", err)
		return
	}
	s.reserveGone.Store(false)
}

// errNoReserve refuses a delivery while the reserve is missing.
var errNoReserve = errors.New("disk full: the space left is kept for deletions")

// checkReserve is called before a delivery: it fails while the reserve is
// missing and still cannot be allocated.
func (s *Store) checkReserve() error {
	if s.reserve <= 0 || !s.reserveGone.Load() {
		return nil
	}
	s.ensureReserve()
	if s.reserveGone.Load() {
		return temporary("delivering", errNoReserve)
	}
	return nil
}

// releaseReserve removes the reserve; it reports whether there was one.
func (s *Store) releaseReserve() bool {
	s.reserveMu.Lock()
	defer s.reserveMu.Unlock()
	if err := os.Remove(s.reservePath()); err != nil {
		return false
	}
	s.reserveGone.Store(true)
	s.log.Warn("disk full: released the reserve to let a deletion through", "bytes", s.reserve)
	return true
}

// withFreeingTx is withTx for a transaction that frees space: on a full
// disk it releases the reserve and tries again. The caller calls
// ensureReserve after removing the freed files.
func (s *Store) withFreeingTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	err := s.withTx(ctx, what, fn)
	if err != nil && isDiskFull(err) && s.releaseReserve() {
		err = s.withTx(ctx, what, fn)
	}
	return err
}

// isDiskFull reports whether err comes from a full disk.
func isDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}
