package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pochta-mail/pochta/internal/store"
)

// The POP3 maildrop lock (RFC 1939: one session per maildrop) must hold
// across nodes. It is a row in maildrop_locks: (account, owner, expires).
// A node takes it with one INSERT that succeeds only when no row exists or
// the existing one has expired, renews the rows of its open maildrops
// every third of the lease, and deletes its row at Close. Expiry is judged
// by the database's clock, so nodes' clocks need not agree.
//
// Why a lease row rather than pg_advisory_lock on a connection per
// session: an advisory lock ties every open POP3 session to a database
// connection of its own (thousands of idle sessions, thousands of
// backends), does not work behind a pooler in transaction mode (the lock
// would stay with a pooled backend), and its release when a node dies
// depends on TCP keepalive settings. A lease needs a connection only for
// a statement, works behind any pooler, and is released by time: a dead
// node's locks expire within the lease (30 s by default).
//
// Fencing: a session that lost its lease (its node stalled past the
// expiry and another node took the maildrop) must not apply its
// deletions. Every write of a maildrop runs in a transaction that first
// locks its own lease row and checks it is still the owner and unexpired;
// otherwise the write fails with store.ErrLocked and changes nothing.

// leases renews the lock rows of a node's open maildrops.
type leases struct {
	s     *Store
	lease time.Duration
	next  atomic.Int64 // owner token counter

	mu   sync.Mutex
	held map[string]*maildrop // by owner token

	quit    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func startLeases(s *Store, lease time.Duration) *leases {
	l := &leases{s: s, lease: lease, held: map[string]*maildrop{}, quit: make(chan struct{}), stopped: make(chan struct{})}
	go l.run()
	return l
}

// stop ends the renewals; it is safe to call more than once.
func (l *leases) stop() {
	l.once.Do(func() { close(l.quit) })
	<-l.stopped
}

// owner returns a new owner token: node id and a counter, so a stale
// Close of one maildrop never releases a later one's lock.
func (l *leases) owner() string {
	return fmt.Sprintf("%s.%d", l.s.node, l.next.Add(1))
}

// acquire takes the account's lock for owner, or reports false while
// someone else holds an unexpired one.
func (l *leases) acquire(ctx context.Context, accountID int64, owner string) (bool, error) {
	var b pgx.Batch
	l.queueAcquire(&b, accountID, owner)
	br := l.s.pool.SendBatch(ctx, &b)
	ok, err := l.acquired(br, accountID)
	if e := br.Close(); err == nil && e != nil {
		err = temporary("locking maildrop", e)
	}
	return ok, err
}

// queueAcquire queues in b the statements of acquire, for a caller that
// sends more in the same round trip; acquired reads their results.
func (l *leases) queueAcquire(b *pgx.Batch, accountID int64, owner string) {
	queueNoWait(b, `INSERT INTO maildrop_locks (account_id, owner, expires)
		VALUES ($1, $2, now() + make_interval(secs => $3))
		ON CONFLICT (account_id) DO UPDATE SET owner = excluded.owner, expires = excluded.expires
		WHERE maildrop_locks.expires <= now()`, accountID, owner, l.lease.Seconds())
}

func (l *leases) acquired(br pgx.BatchResults, accountID int64) (bool, error) {
	tag, err := noWaitResult(br)
	if isForeignKeyViolation(err) {
		return false, notFound("account %d", accountID)
	} else if err != nil {
		return false, temporary("locking maildrop", err)
	}
	return tag.RowsAffected() == 1, nil
}

// release deletes owner's lock row.
func (l *leases) release(accountID int64, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.s.execNoWait(ctx, `DELETE FROM maildrop_locks WHERE account_id = $1 AND owner = $2`,
		accountID, owner); err != nil {
		// It expires by itself.
		l.s.log.Warn("releasing maildrop lock", "account", accountID, "err", err)
	}
}

// execNoWait runs one statement in a transaction that commits without
// waiting for its WAL flush (synchronous_commit off), all in one round
// trip. Taking and releasing a maildrop lock use it: each would otherwise
// wait for a disk flush, twice per POP3 session, and a lock row needs no
// durability of its own. Its commit is visible at once to every node, as
// any commit; only a crash of the database server can lose it, and then
// the server's connections are gone too: a lost acquisition leaves a
// session whose every write fence refuses (the row is not its own), a lost
// release leaves a row that expires within the lease. Deletions are never
// applied under a lock that is not held.
func (s *Store) execNoWait(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	var b pgx.Batch
	queueNoWait(&b, sql, args...)
	br := s.pool.SendBatch(ctx, &b)
	tag, err := noWaitResult(br)
	if e := br.Close(); err == nil {
		err = e
	}
	return tag, err
}

// queueNoWait queues the statements of execNoWait in b.
func queueNoWait(b *pgx.Batch, sql string, args ...any) {
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit = off`)
	b.Queue(sql, args...)
	b.Queue(`COMMIT`)
}

// noWaitResult reads the results of queueNoWait's statements: the tag of
// the caller's and the first error. A failed statement leaves the
// transaction open; the pool then drops the connection rather than reuse
// it.
func noWaitResult(br pgx.BatchResults) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	var err error
	for i := range 4 {
		t, e := br.Exec()
		if i == 2 {
			tag = t
		}
		if err == nil {
			err = e
		}
	}
	return tag, err
}

// fence checks, within t, that owner still holds the account's lock,
// and keeps the row locked until t ends, so the lock cannot pass to
// another node before t commits.
func fence(ctx context.Context, t *tx, accountID int64, owner string) error {
	var ok bool
	err := t.QueryRow(ctx, `SELECT expires > now() FROM maildrop_locks WHERE account_id = $1 AND owner = $2
		FOR NO KEY UPDATE`, accountID, owner).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ok) {
		return fmt.Errorf("postgres: account %d: maildrop lock lost: %w", accountID, store.ErrLocked)
	} else if err != nil {
		return temporary("checking maildrop lock", err)
	}
	return nil
}

func (l *leases) run() {
	defer close(l.stopped)
	tick := time.NewTicker(l.lease / 3)
	defer tick.Stop()
	// The node's housekeeping rides on the same goroutine: orphan bodies
	// and expired failed-login counters are swept at start and every
	// orphanAge.
	sweep := time.NewTimer(0)
	defer sweep.Stop()
	for {
		select {
		case <-tick.C:
			l.renew()
		case <-sweep.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			// Once per cluster: a few minutes' slack so that nodes
			// started together do not each run it.
			if ok, err := l.s.ClaimJob(ctx, "housekeeping", orphanAge-5*time.Minute); err != nil {
				l.s.log.Warn("claiming housekeeping", "err", err)
			} else if ok {
				l.s.sweepOrphans(ctx)
				l.s.sweepLoginFailures(ctx)
			}
			cancel()
			sweep.Reset(orphanAge)
		case <-l.quit:
			return
		}
	}
}

// renew extends the leases of the node's open maildrops in one statement.
// A lease found gone was taken over after it expired (this node stalled):
// its maildrop can no longer write (fence would refuse anyway).
func (l *leases) renew() {
	l.mu.Lock()
	owners := make([]string, 0, len(l.held))
	for o := range l.held {
		owners = append(owners, o)
	}
	l.mu.Unlock()
	if len(owners) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.lease/3)
	defer cancel()
	rows, _ := l.s.pool.Query(ctx, `UPDATE maildrop_locks SET expires = now() + make_interval(secs => $2)
		WHERE owner = ANY($1) AND expires > now() RETURNING owner`, owners, l.lease.Seconds())
	renewed, err := scanStrings(rows)
	if err != nil {
		l.s.log.Warn("renewing maildrop locks", "err", err)
		return
	}
	for _, o := range owners {
		if !slices.Contains(renewed, o) {
			l.s.log.Warn("maildrop lock lost", "owner", o)
		}
	}
}

// maildrop is an open, locked snapshot of an INBOX. Every statement it
// runs is limited to its mailbox and to UIDs up to lastUID.
type maildrop struct {
	s         *Store
	accountID int64
	mailboxID int64
	lastUID   int64
	owner     string
	msgs      []store.MaildropMessage
	ra        readAhead

	mu     sync.Mutex
	closed bool
}

// OpenMaildrop locks the account's maildrop across nodes and snapshots
// its INBOX, in one round trip: the lease's statements, the INBOX's key
// (store.SnapshotCache) and, unless this node keeps a snapshot of the
// account, the listing, which reads nothing unless the lease was taken. A
// kept snapshot whose key still matches is used as it is; one that does
// not costs a second round trip for the listing.
//
// A kept snapshot may show a message as never retrieved when a session on
// another node has since recorded its first retrieval (first_retrieved
// moves no key): MarkRetrieved then sends its id again, which changes
// nothing. Every other field is as fresh as the key.
func (s *Store) OpenMaildrop(ctx context.Context, accountID int64) (store.Maildrop, error) {
	m := &maildrop{s: s, accountID: accountID, owner: s.locks.owner(), ra: readAhead{last: -1}}
	list := s.snaps.Kept(accountID) == nil
	var b pgx.Batch
	s.locks.queueAcquire(&b, accountID, m.owner)
	b.Queue(`SELECT id, modseq, uidnext FROM mailboxes WHERE account_id = $1 AND name = 'INBOX'`, accountID)
	if list {
		b.Queue(snapshotSQL+` AND EXISTS (SELECT 1 FROM maildrop_locks WHERE account_id = $1 AND owner = $2) ORDER BY uid`,
			accountID, m.owner)
	}
	br := s.pool.SendBatch(ctx, &b)
	ok, err := s.locks.acquired(br, accountID)
	if ok {
		s.locks.mu.Lock()
		s.locks.held[m.owner] = m
		s.locks.mu.Unlock()
	}
	var key store.SnapshotKey
	if ok && err == nil {
		err = br.QueryRow().Scan(&key.MailboxID, &key.ModSeq, &key.UIDNext)
		if errors.Is(err, pgx.ErrNoRows) {
			err = notFound("account %d", accountID)
		}
	}
	if ok && err == nil && list {
		rows, _ := br.Query()
		err = m.scan(rows)
	}
	if e := br.Close(); err == nil {
		err = e
	}
	if ok && err == nil && !list {
		var kept bool
		if m.msgs, m.lastUID, kept = s.snaps.Get(accountID, key); !kept {
			list = true
			rows, _ := s.pool.Query(ctx, snapshotSQL+` ORDER BY uid`, accountID)
			err = m.scan(rows)
		}
	}
	switch {
	case err != nil && ok:
		m.Close()
		fallthrough
	case err != nil:
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTemporary) {
			return nil, err
		}
		return nil, temporary("opening maildrop", err)
	case !ok:
		return nil, fmt.Errorf("postgres: account %d: %w", accountID, store.ErrLocked)
	}
	m.mailboxID = key.MailboxID
	if list {
		// Listed after the key was read: a change committed between the
		// two is in the listing and not in the key, so the key never
		// matches again and the entry is never used.
		s.snaps.Put(accountID, key, m.msgs, m.lastUID)
	}
	m.ra.sorted = slices.IsSortedFunc(m.msgs, func(a, b store.MaildropMessage) int { return cmp.Compare(a.ID, b.ID) })
	return m, nil
}

// snapshotSQL lists the account's INBOX for a snapshot ($1 the account);
// the caller adds conditions and the order.
const snapshotSQL = `SELECT id, uid, uidl, size, dot_lines, first_retrieved FROM messages
	WHERE mailbox_id = (SELECT id FROM mailboxes WHERE account_id = $1 AND name = 'INBOX')`

// scan reads a snapshot listing into m.msgs and m.lastUID.
func (m *maildrop) scan(rows pgx.Rows) error {
	var (
		mm        store.MaildropMessage
		retrieved *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&mm.ID, &m.lastUID, &mm.UIDL, &mm.Size, &mm.DotLines, &retrieved}, func() error {
		mm.FirstRetrieved = time.Time{}
		if retrieved != nil {
			mm.FirstRetrieved = retrieved.UTC()
		}
		m.msgs = append(m.msgs, mm)
		return nil
	})
	return err
}

func (m *maildrop) Messages() []store.MaildropMessage { return m.msgs }

// errClosed is returned by a maildrop's methods after Close.
var errClosed = fmt.Errorf("postgres: maildrop closed: %w", store.ErrInvalid)

func (m *maildrop) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// Body opens a message of the snapshot. A message removed since (by
// another protocol) is store.ErrNotFound. Read in snapshot order, the
// bodies come from the database several at a time (readahead.go).
func (m *maildrop) Body(ctx context.Context, id int64) (io.ReadCloser, error) {
	if m.isClosed() {
		return nil, errClosed
	}
	m.ra.mu.Lock()
	defer m.ra.mu.Unlock()
	i := m.index(id)
	inOrder := i >= 0 && i == m.ra.last+1
	m.ra.last = i
	if r, ok := m.takeAhead(id); ok {
		return r, nil
	}
	if inOrder {
		if r, done, err := m.readAheadFrom(ctx, i); done {
			return r, err
		}
	}
	r, err := m.s.queryBody(ctx, `SELECT `+bodyColumns+` FROM messages m
		WHERE m.id = $1 AND m.mailbox_id = $2 AND m.uid <= $3`, id, m.mailboxID, m.lastUID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("message %d", id)
	} else if err != nil {
		return nil, err
	}
	return r, nil
}

// MarkRetrieved sets first_retrieved on the messages that have none,
// fenced by the maildrop's lock.
func (m *maildrop) MarkRetrieved(ctx context.Context, ids []int64, at time.Time) error {
	if m.isClosed() {
		return errClosed
	}
	err := m.s.withTx(ctx, "marking retrieved", func(t *tx) error {
		if err := fence(ctx, t, m.accountID, m.owner); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `UPDATE messages SET first_retrieved = $1
			WHERE id = ANY($2) AND mailbox_id = $3 AND uid <= $4 AND first_retrieved IS NULL`,
			at, ids, m.mailboxID, m.lastUID); err != nil {
			return temporary("marking retrieved", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	at = micro(at).UTC() // as a listing reads it: a kept snapshot must equal one
	marked := slices.Sorted(slices.Values(ids))
	for i := range m.msgs {
		if _, found := slices.BinarySearch(marked, m.msgs[i].ID); found && m.msgs[i].FirstRetrieved.IsZero() {
			m.msgs[i].FirstRetrieved = at
		}
	}
	return nil
}

// Delete removes the messages in one transaction, fenced by the
// maildrop's lock; ids already gone are ignored. It is one statement
// (migration 9's maildrop_delete: fence, mailbox lock, rows, NOTIFY,
// unreferenced bodies), so a QUIT waits for one round trip and its
// commit.
func (m *maildrop) Delete(ctx context.Context, ids []int64) error {
	if m.isClosed() {
		return errClosed
	}
	e := store.Event{Kind: store.EventExpunge, AccountID: m.accountID, MailboxID: m.mailboxID}
	var n int
	var err error
	for range maxAttempts {
		err = m.s.pool.QueryRow(ctx, `SELECT maildrop_delete($1, $2, $3, $4, $5, $6, $7)`, m.accountID, m.owner,
			m.mailboxID, ids, m.lastUID, channel(m.s.schema), m.s.payload(e)).Scan(&n)
		if err == nil || !retryable(err) {
			break
		}
	}
	if errCode(err) == codeLockLost {
		return fmt.Errorf("postgres: account %d: maildrop lock lost: %w", m.accountID, store.ErrLocked)
	} else if err != nil {
		return temporary("deleting messages", err)
	}
	if n > 0 {
		m.s.snaps.Drop(m.accountID)
		m.s.publishLocal(e)
	}
	return nil
}

// codeLockLost is what maildrop_delete raises when the maildrop's lease
// is no longer its own (migration 9).
const codeLockLost = "PXLCK"

// Close releases the maildrop lock; later calls do nothing.
func (m *maildrop) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		m.ra.mu.Lock()
		m.dropAhead()
		m.ra.mu.Unlock()
		m.s.locks.mu.Lock()
		delete(m.s.locks.held, m.owner)
		m.s.locks.mu.Unlock()
		m.s.locks.release(m.accountID, m.owner)
	}
	return nil
}

// Expire deletes messages first retrieved before retrievedBefore, of one
// account or of all (accountID 0). Each account is expired in its own
// transaction under its maildrop lock, taken like a POP3 session's: an
// account whose maildrop is open on any node is skipped until the next
// run.
func (s *Store) Expire(ctx context.Context, accountID int64, retrievedBefore time.Time) (int, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT account_id FROM messages
		WHERE first_retrieved < $1 AND ($2 = 0 OR account_id = $2)`, retrievedBefore, accountID)
	accounts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, temporary("expiring", err)
	}
	total := 0
	for _, id := range accounts {
		n, err := s.expireAccount(ctx, id, retrievedBefore)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func (s *Store) expireAccount(ctx context.Context, accountID int64, before time.Time) (int, error) {
	owner := s.locks.owner()
	ok, err := s.locks.acquire(ctx, accountID, owner)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil // deleted meanwhile
	} else if err != nil || !ok {
		return 0, err
	}
	defer s.locks.release(accountID, owner)
	n := 0
	err = s.withTx(ctx, "expiring", func(t *tx) error {
		if err := fence(ctx, t, accountID, owner); err != nil {
			return err
		}
		rows, _ := t.Query(ctx, `DELETE FROM messages WHERE account_id = $1 AND first_retrieved < $2
			RETURNING body_id`, accountID, before)
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return temporary("expiring", err)
		}
		n = len(bodies)
		if n > 0 {
			t.event(store.Event{Kind: store.EventExpunge, AccountID: accountID})
		}
		return deleteUnreferenced(ctx, t, bodies)
	})
	return n, err
}
