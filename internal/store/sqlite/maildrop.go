package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// lockTable holds the maildrop locks of one Store, twice: in memory, so
// two sessions of this Store exclude each other, and as a byte-range lock
// on the lock file (byte accountID of DIR/maildrop.lock, lockByte), so
// every other Store on the directory, in this process or in another,
// sees it. The kernel drops such a lock when the file is closed, which
// the end of the process does too: a crash or kill -9 leaves nothing
// stale.
type lockTable struct {
	mu     sync.Mutex
	held   map[int64]bool
	file   *os.File // nil: locks in memory only (a Store not opened yet)
	closed bool
}

// maildropLockFile holds the byte-range maildrop locks of every process
// using the directory.
const maildropLockFile = "maildrop.lock"

// open opens the lock file in dir.
func (l *lockTable) open(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, maildropLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return temporary("opening "+maildropLockFile, err)
	}
	l.file = f
	return nil
}

// close closes the lock file, which releases every lock it holds; a
// later tryLock fails. Under l.mu, so that no unlock can meanwhile use
// the descriptor's number, which a file opened since may have taken.
func (l *lockTable) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
	l.closed = true
}

// tryLock takes the account's maildrop lock; false when someone holds it.
func (l *lockTable) tryLock(accountID int64) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false, errors.New("store closed")
	}
	if l.held[accountID] {
		return false, nil
	}
	if l.file != nil {
		if ok, err := lockByte(l.file, accountID); !ok || err != nil {
			return false, err
		}
	}
	if l.held == nil {
		l.held = map[int64]bool{}
	}
	l.held[accountID] = true
	return true, nil
}

func (l *lockTable) unlock(accountID int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil {
		// Failing to unlock an open file's range cannot happen short
		// of a bad descriptor; the lock would then go with the file.
		_ = unlockByte(l.file, accountID)
	}
	delete(l.held, accountID)
}

// maildrop is an open, locked snapshot of an INBOX. Every statement it runs
// is limited to its mailbox and to UIDs up to lastUID (below the mailbox's
// uidnext when the snapshot was taken), so messages that arrived after the
// open stay out of reach.
type maildrop struct {
	s         *Store
	accountID int64
	mailboxID int64
	lastUID   int64
	msgs      []store.MaildropMessage

	mu     sync.Mutex
	closed bool
}

// OpenMaildrop locks the account's maildrop and snapshots its INBOX.
func (s *Store) OpenMaildrop(ctx context.Context, accountID int64) (store.Maildrop, error) {
	if ok, err := s.locks.tryLock(accountID); err != nil {
		return nil, temporary("locking maildrop", err)
	} else if !ok {
		return nil, fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrLocked)
	}
	m, err := s.snapshot(ctx, accountID)
	if err != nil {
		s.locks.unlock(accountID)
		return nil, err
	}
	return m, nil
}

func (s *Store) snapshot(ctx context.Context, accountID int64) (*maildrop, error) {
	m := &maildrop{s: s, accountID: accountID}
	var key store.SnapshotKey
	err := s.queryRow(ctx, `SELECT id, modseq, uidnext FROM mailboxes WHERE account_id = ? AND name = 'INBOX'`,
		accountID).Scan(&key.MailboxID, &key.ModSeq, &key.UIDNext)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
	} else if err != nil {
		return nil, temporary("opening maildrop", err)
	}
	m.mailboxID = key.MailboxID
	var ok bool
	if m.msgs, m.lastUID, ok = s.snaps.Get(accountID, key); ok {
		return m, nil
	}
	// The key was read first: a change committed since then is either in
	// the listing or not, and either way the next open sees a newer key.
	var count int // a capacity hint: a delivery may add rows before the listing
	if err := s.queryRow(ctx, `SELECT count(*) FROM messages WHERE mailbox_id = ?`, m.mailboxID).Scan(&count); err != nil {
		return nil, temporary("opening maildrop", err)
	}
	// One query for the whole listing; the UNIQUE (mailbox_id, uid) index
	// serves both the filter and the order. The snapshot is the messages
	// below the uidnext read with the key, so lastUID is known without
	// reading every row's UID (a column fewer per row: a fifth of the
	// allocations of a 100,000-message listing); a message delivered
	// since has a UID at or above it and stays out.
	m.lastUID = key.UIDNext - 1
	rows, err := s.reader.QueryContext(ctx, `SELECT id, uidl, size, dot_lines, first_retrieved
		FROM messages WHERE mailbox_id = ? AND uid < ? ORDER BY uid`, m.mailboxID, key.UIDNext)
	if err != nil {
		return nil, temporary("opening maildrop", err)
	}
	defer rows.Close()
	m.msgs = make([]store.MaildropMessage, 0, count)
	// Scan into the same variables every row: taking their addresses once
	// keeps a 100,000-message listing from allocating per row.
	var (
		mm        store.MaildropMessage
		retrieved sql.NullInt64
	)
	dest := []any{&mm.ID, &mm.UIDL, &mm.Size, &mm.DotLines, &retrieved}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, temporary("opening maildrop", err)
		}
		mm.FirstRetrieved = time.Time{}
		if retrieved.Valid {
			mm.FirstRetrieved = fromDB(retrieved.Int64)
		}
		m.msgs = append(m.msgs, mm)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("opening maildrop", err)
	}
	s.snaps.Put(accountID, key, m.msgs, m.lastUID)
	return m, nil
}

func (m *maildrop) Messages() []store.MaildropMessage { return m.msgs }

// errClosed is returned by a maildrop's methods after Close: its lock is
// gone, so acting on the snapshot would be unsafe.
var errClosed = fmt.Errorf("sqlite: maildrop closed: %w", store.ErrInvalid)

func (m *maildrop) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Body opens a message of the snapshot. A message removed since (by
// another protocol) is store.ErrNotFound.
func (m *maildrop) Body(ctx context.Context, id int64) (io.ReadCloser, error) {
	if m.isClosed() {
		return nil, errClosed
	}
	r, err := m.s.queryBody(ctx, `SELECT m.body, (SELECT data FROM blobs WHERE name = m.body), m.size
		FROM messages m WHERE m.id = ? AND m.mailbox_id = ? AND m.uid <= ?`,
		id, m.mailboxID, m.lastUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sqlite: message %d: %w", id, err)
	}
	return r, err
}

// MarkRetrieved sets first_retrieved on the messages that have none.
func (m *maildrop) MarkRetrieved(ctx context.Context, ids []int64, at time.Time) error {
	if m.isClosed() {
		return errClosed
	}
	err := m.s.withTx(ctx, "marking retrieved", func(tx *sql.Tx) error {
		if _, err := m.s.txExec(ctx, tx, sqlMaildropMark, toDB(at), jsonInts(ids), m.mailboxID, m.lastUID); err != nil {
			return temporary("marking retrieved", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The snapshot may be kept for the next session (store.SnapshotCache): it must
	// say what the database now says.
	at = fromDB(toDB(at))
	marked := slices.Sorted(slices.Values(ids))
	for i := range m.msgs {
		if _, found := slices.BinarySearch(marked, m.msgs[i].ID); found && m.msgs[i].FirstRetrieved.IsZero() {
			m.msgs[i].FirstRetrieved = at
		}
	}
	return nil
}

// Delete removes the messages in one transaction; ids already gone are
// ignored. Body files no longer referenced are removed after the commit.
func (m *maildrop) Delete(ctx context.Context, ids []int64) error {
	if m.isClosed() {
		return errClosed
	}
	var unreferenced []string
	err := m.s.withFreeingTx(ctx, "deleting messages", func(tx *sql.Tx) error {
		// One statement for the whole set, prepared once: compiling a
		// DELETE per message was a fifth of QUIT's CPU.
		rows, err := m.s.txQuery(ctx, tx, sqlMaildropDelete, jsonInts(ids), m.mailboxID, m.lastUID)
		if err != nil {
			return temporary("deleting messages", err)
		}
		bodies, err := scanStrings(rows)
		if err != nil {
			return temporary("deleting messages", err)
		}
		unreferenced, err = m.s.unreferencedBodies(ctx, tx, bodies)
		return err
	})
	if err != nil {
		return err
	}
	m.s.snaps.Drop(m.accountID)
	m.s.removeBodies(unreferenced)
	m.s.ensureReserve()
	m.s.events.Publish(store.Event{Kind: store.EventExpunge, AccountID: m.accountID, MailboxID: m.mailboxID})
	return nil
}

// Close releases the maildrop lock; later calls do nothing.
func (m *maildrop) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.s.locks.unlock(m.accountID)
	}
	return nil
}

// unreferencedBodies handles bodies whose rows the transaction just
// deleted: those no remaining message or queue entry references are
// garbage. Inline ones are deleted within the transaction; the names of
// files are returned, to be removed after the commit. Bodies are never
// shared by a later delivery, so once unreferenced they stay so.
func (s *Store) unreferencedBodies(ctx context.Context, tx *sql.Tx, bodies []string) ([]string, error) {
	if len(bodies) == 0 {
		return nil, nil
	}
	slices.Sort(bodies)
	bodies = slices.Compact(bodies)
	rows, err := s.txQuery(ctx, tx, sqlGarbageBodies, jsonStrings(bodies))
	if err != nil {
		return nil, temporary("checking message bodies", err)
	}
	garbage, err := scanStrings(rows)
	if err != nil {
		return nil, temporary("checking message bodies", err)
	}
	if len(garbage) == 0 {
		return nil, nil
	}
	rows, err = s.txQuery(ctx, tx, sqlDeleteBlobs, jsonStrings(garbage))
	if err != nil {
		return nil, temporary("deleting message bodies", err)
	}
	inline, err := scanStrings(rows)
	if err != nil {
		return nil, temporary("deleting message bodies", err)
	}
	// What was not inline is a file.
	slices.Sort(inline)
	return slices.DeleteFunc(garbage, func(name string) bool {
		_, found := slices.BinarySearch(inline, name)
		return found
	}), nil
}

// Expire deletes messages first retrieved before retrievedBefore, of one
// account or of all (accountID 0), skipping accounts whose maildrop is
// open. Each account is expired in its own transaction while holding its
// maildrop lock, so no POP3 session sees a half-expired snapshot.
func (s *Store) Expire(ctx context.Context, accountID int64, retrievedBefore time.Time) (int, error) {
	before := toDB(retrievedBefore)
	rows, err := s.reader.QueryContext(ctx, `SELECT DISTINCT account_id FROM messages
		WHERE first_retrieved < ? AND (? = 0 OR account_id = ?)`, before, accountID, accountID)
	if err != nil {
		return 0, temporary("expiring", err)
	}
	var accounts []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, temporary("expiring", err)
		}
		accounts = append(accounts, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, temporary("expiring", err)
	}
	total := 0
	for _, id := range accounts {
		n, err := s.expireAccount(ctx, id, before)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (s *Store) expireAccount(ctx context.Context, accountID, before int64) (int, error) {
	if ok, err := s.locks.tryLock(accountID); err != nil {
		return 0, temporary("locking maildrop", err)
	} else if !ok {
		return 0, nil // a session has it open; the next run will catch up
	}
	defer s.locks.unlock(accountID)
	var unreferenced []string
	n := 0
	err := s.withTx(ctx, "expiring", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE account_id = ? AND first_retrieved < ?
			RETURNING body`, accountID, before)
		if err != nil {
			return temporary("expiring", err)
		}
		bodies, err := scanStrings(rows)
		if err != nil {
			return temporary("expiring", err)
		}
		n = len(bodies)
		unreferenced, err = s.unreferencedBodies(ctx, tx, bodies)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.removeBodies(unreferenced)
	if n > 0 {
		s.events.Publish(store.Event{Kind: store.EventExpunge, AccountID: accountID})
	}
	return n, nil
}
