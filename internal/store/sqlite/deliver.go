package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Deliver stores d in the INBOX of every recipient (and on the outbound
// queue): one body shared by all of them, inline or in a file, then one
// metadata transaction shared with concurrent deliveries. It returns nil
// only once everything is durable; on error nothing is visible to anyone.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) error {
	return s.DeliverBatch(ctx, []store.Delivery{d})[0]
}

// DeliverBatch stores ds as Deliver stores each: every body first, then
// all of them handed to the committer at once, which never splits them
// between transactions and runs them in their order (a savepoint each).
func (s *Store) DeliverBatch(ctx context.Context, ds []store.Delivery) []error {
	errs := make([]error, len(ds))
	err := ctx.Err()
	if err == nil {
		err = s.checkReserve()
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	s.commits.arriving.Add(int64(len(ds)))
	group := make([]*pending, 0, len(ds))
	at := make([]int, 0, len(ds)) // index in ds of each of group
	for i, d := range ds {
		if errs[i] = store.CheckDelivery(d); errs[i] != nil {
			continue
		}
		body, err := s.writeBody(d.Body, false)
		if err != nil {
			errs[i] = err
			continue
		}
		now := s.now()
		p := &pending{recipients: d.Recipients, outbound: d.Outbound, fetched: d.Fetched, duplicates: d.Duplicates,
			body: body, date: d.InternalDate, saved: toDB(now), done: make(chan struct{})}
		if p.date.IsZero() {
			p.date = now
		}
		group, at = append(group, p), append(at, i)
	}
	s.commits.arriving.Add(-int64(len(ds) - len(group)))
	if len(group) == 0 {
		return errs
	}
	s.commits.submit(group)
	s.indexer.Wake()
	for k, p := range group {
		s.releaseBody(p.body.inline)
		if errs[at[k]] = p.err; p.err != nil {
			if !p.ambiguous && p.body.inline == nil {
				// The transaction certainly rolled back: the file is
				// garbage. After an ambiguous commit failure the sweep
				// decides instead.
				s.removeBodies([]string{p.body.name})
			}
			continue
		}
		for _, r := range p.recipients {
			if p.created {
				s.events.Publish(store.Event{Kind: store.EventMailboxes, AccountID: r.AccountID})
			}
			s.events.Publish(store.Event{Kind: store.EventNew, AccountID: r.AccountID})
		}
	}
	return errs
}

// pending is one delivery waiting for the committer.
type pending struct {
	recipients []store.Recipient
	outbound   *store.Envelope
	fetched    *store.FetchMark
	duplicates []store.DuplicateRecord
	body       storedBody
	date       time.Time
	created    bool  // a target mailbox was created (maybe rolled back)
	saved      int64 // save_date (RFC 8514), in the database's unit

	err       error
	ambiguous bool // the commit itself failed: the outcome is unknown
	done      chan struct{}
}

// committer implements group commit: deliveries that arrive while a
// transaction is committing wait, then share the next transaction, so one
// WAL fsync makes many messages durable. Each delivery runs inside its own
// SAVEPOINT, so one failing delivery (an unknown account, a duplicate UIDL)
// rolls back alone. A group (DeliverBatch) is never split: it goes whole
// into one transaction, in its order, even past maxBatch.
type committer struct {
	s        *Store
	stmts    *deliverStmts
	maxBatch int
	reqs     chan []*pending
	quit     chan struct{}
	stopped  chan struct{}
	commits  atomic.Int64 // transactions committed, for the benchmark's msgs/commit
	// arriving counts deliveries between their start and their hand-over
	// to the committer: while some are on their way, a new batch waits
	// up to gatherWait for them (see run).
	arriving atomic.Int64
}

// gatherWait bounds how long a batch waits for deliveries still writing
// their bodies. Without it, N clients split into two groups that commit in
// turn (the group woken by a commit arrives just after the next one
// started), halving the batch size; with it they share one commit. It is
// small next to an fsync, and a slow client streaming its body delays
// others by at most this much.
const gatherWait = 300 * time.Microsecond

func startCommitter(s *Store, stmts *deliverStmts, maxBatch int) *committer {
	c := &committer{s: s, stmts: stmts, maxBatch: maxBatch, reqs: make(chan []*pending),
		quit: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// submit hands a group to the committer and waits for the outcome of
// each. It does not give up when the caller's context ends: once
// submitted, the caller must learn whether the message was stored, or
// "error means nothing stored" would not hold.
func (c *committer) submit(group []*pending) {
	defer c.arriving.Add(-int64(len(group)))
	select {
	case c.reqs <- group:
	case <-c.quit:
		for _, p := range group {
			p.err = fmt.Errorf("sqlite: store closed: %w", store.ErrTemporary)
		}
		return
	}
	for _, p := range group {
		<-p.done
	}
}

func (c *committer) stop() {
	close(c.quit)
	<-c.stopped
	c.stmts.close()
}

func (c *committer) run() {
	defer close(c.stopped)
	gather := time.NewTimer(0)
	<-gather.C
	for {
		select {
		case group := <-c.reqs:
			batch := c.gather(group, gather)
			c.commit(batch)
			for _, p := range batch {
				close(p.done)
			}
		case <-c.quit:
			return
		}
	}
}

// gather builds a batch starting with a group: whatever queued up while
// the last commit ran, then, for at most gatherWait, deliveries still
// arriving. Groups are taken whole.
func (c *committer) gather(group []*pending, timer *time.Timer) []*pending {
	batch := append(make([]*pending, 0, max(len(group), c.maxBatch)), group...)
	for len(batch) < c.maxBatch {
		select {
		case g := <-c.reqs:
			batch = append(batch, g...)
			continue
		default:
		}
		break
	}
	// The batch still counts in arriving until submit returns, hence > len.
	if len(batch) >= c.maxBatch || c.arriving.Load() <= int64(len(batch)) {
		return batch
	}
	timer.Reset(gatherWait)
	defer timer.Stop()
	for len(batch) < c.maxBatch && c.arriving.Load() > int64(len(batch)) {
		select {
		case g := <-c.reqs:
			batch = append(batch, g...)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// commit stores a batch in one transaction and sets each delivery's err.
func (c *committer) commit(batch []*pending) {
	ctx := context.Background() // see submit: callers cannot abandon a commit
	failAll := func(err error) {
		for _, p := range batch {
			if p.err == nil {
				p.err = err
			}
		}
	}
	c.syncBodyDirs(batch)
	tx, err := c.s.writer.BeginTx(ctx, nil)
	if err != nil {
		failAll(temporary("starting delivery", err))
		return
	}
	st := c.stmts.in(ctx, tx)
	stored := 0
	for _, p := range batch {
		if p.err != nil {
			continue // its body file is not durable
		}
		if _, err := st.savepoint.ExecContext(ctx); err != nil {
			tx.Rollback()
			failAll(temporary("starting delivery", err))
			return
		}
		p.err = c.s.insertDelivery(ctx, tx, st, p)
		if p.err != nil {
			if _, err := st.rollbackTo.ExecContext(ctx); err != nil {
				tx.Rollback()
				failAll(temporary("rolling back delivery", err))
				return
			}
		} else {
			stored++
		}
		if _, err := st.release.ExecContext(ctx); err != nil {
			tx.Rollback()
			failAll(temporary("storing delivery", err))
			return
		}
	}
	if stored == 0 {
		tx.Rollback()
		return
	}
	c.commits.Add(1)
	if err := tx.Commit(); err != nil {
		for _, p := range batch {
			if p.err == nil {
				p.err, p.ambiguous = temporary("committing delivery", err), true
			}
		}
	}
}

// syncBodyDirs makes the directory entries of the batch's body files
// durable before any row references them. Bodies written close together
// share a shard directory, so this is usually one fsync for the batch. A
// delivery whose directory cannot be synced fails (and rolls back) alone.
func (c *committer) syncBodyDirs(batch []*pending) {
	synced := map[string]error{}
	for _, p := range batch {
		if p.body.inline != nil {
			continue // no file
		}
		dir := filepath.Dir(c.s.bodyPath(p.body.name))
		err, done := synced[dir]
		if !done {
			err = syncDir(dir)
			synced[dir] = err
		}
		if err != nil {
			p.err = temporary("syncing message directory", err)
		}
	}
}

// insertDelivery adds p's rows within the current transaction: the inline
// body, a message per recipient (charged to its quota) and the queue entry.
func (s *Store) insertDelivery(ctx context.Context, tx *sql.Tx, st *deliverStmts, p *pending) error {
	if f := p.fetched; f != nil {
		// First, so a message fetched before costs no work: the
		// savepoint's rollback undoes nothing else.
		if _, err := st.insertFetched.ExecContext(ctx, f.SourceID, f.Scope, f.ID, f.Fingerprint); err != nil {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("sqlite: fetch source %d: %w", f.SourceID, store.ErrNotFound)
			}
			return dbError("recording fetched message", err)
		}
	}
	if p.body.inline != nil {
		if _, err := st.insertBlob.ExecContext(ctx, p.body.name, *p.body.inline); err != nil {
			return temporary("storing message", err)
		}
	}
	for _, r := range p.recipients {
		mailboxID, uidvalidity, uid, err := s.targetUID(ctx, tx, st, p, r)
		if err != nil {
			return err
		}
		if err := checkQuota(ctx, st, r.AccountID, p.body.size); err != nil {
			return err
		}
		if err := insertMessage(ctx, st, r, p, mailboxID, uidvalidity, uid); err != nil {
			return err
		}
	}
	for _, d := range p.duplicates {
		if err := recordDuplicate(ctx, tx, d); err != nil {
			return err
		}
	}
	if p.outbound != nil {
		return s.insertQueued(ctx, tx, p)
	}
	return nil
}

// targetUID takes the next UID of the mailbox r names, creating the
// mailbox when r asks for it, or of INBOX when the named mailbox cannot be
// used (see store.Recipient).
func (s *Store) targetUID(ctx context.Context, tx *sql.Tx, st *deliverStmts, p *pending,
	r store.Recipient) (mailboxID, uidvalidity, uid int64, err error) {
	name := store.CanonicalMailboxName(r.Mailbox)
	if name == "" || !store.ValidMailboxName(name) {
		name = store.InboxName
	}
	next := func(name string) error {
		return st.nextUID.QueryRowContext(ctx, r.AccountID, name).Scan(&mailboxID, &uidvalidity, &uid)
	}
	err = next(name)
	if errors.Is(err, sql.ErrNoRows) && name != store.InboxName && r.Create {
		if err = s.createTarget(ctx, tx, r.AccountID, name); err != nil {
			return 0, 0, 0, err
		}
		p.created = true
		err = next(name)
	}
	if errors.Is(err, sql.ErrNoRows) && name != store.InboxName {
		err = next(store.InboxName)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, fmt.Errorf("sqlite: account %d: %w", r.AccountID, store.ErrNotFound)
	} else if err != nil {
		return 0, 0, 0, temporary("delivering", err)
	}
	return mailboxID, uidvalidity, uid, nil
}

// createTarget creates a delivery's target mailbox and its parents within
// the delivery's transaction. A missing account creates nothing (the
// INBOX lookup that follows reports it).
func (s *Store) createTarget(ctx context.Context, tx *sql.Tx, accountID int64, name string) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = ?)`,
		accountID).Scan(&exists); err != nil {
		return temporary("delivering", err)
	}
	if !exists {
		return nil
	}
	if err := s.createParents(ctx, tx, accountID, name); err != nil {
		return err
	}
	validity, err := s.nextUIDValidity(ctx, tx)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity)
		VALUES (?, ?, ?)`, accountID, name, validity); err != nil {
		return dbError("creating mailbox", err)
	}
	return nil
}

// checkQuota fails with store.ErrQuota when size more octets would take
// the account over its quota. The messages row inserted next charges the
// usage counter (by trigger), within the same transaction.
func checkQuota(ctx context.Context, st *deliverStmts, accountID, size int64) error {
	var fits bool
	if err := st.checkQuota.QueryRowContext(ctx, size, accountID).Scan(&fits); err != nil {
		return temporary("delivering", err)
	}
	if !fits {
		return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrQuota)
	}
	return nil
}

// insertMessage inserts one messages row. A given UIDL that is taken is
// store.ErrExists. A generated UIDL (store.InboxUIDL) is
// new by construction, unless an imported message happens to carry the
// same string: then the next deterministic variant is tried.
func insertMessage(ctx context.Context, st *deliverStmts, r store.Recipient, p *pending,
	mailboxID, uidvalidity, uid int64) error {
	uidl := r.UIDL
	generated := uidl == ""
	if generated {
		uidl = store.InboxUIDL(uint32(uidvalidity), uint32(uid))
	}
	for variant := 1; ; variant++ {
		// A failed INSERT only undoes itself (SQLite's default ABORT
		// conflict resolution), so retrying within the transaction is fine.
		_, err := st.insertMessage.ExecContext(ctx, mailboxID, r.AccountID, uid, uidl, p.body.name, p.body.size,
			p.body.dotLines, toDB(p.date), store.FormatFlags(r.Flags), p.saved)
		switch {
		case err == nil:
			return nil
		case generated && isUniqueViolation(err) && variant < store.MaxUIDLVariants:
			uidl = store.UIDLVariant(store.InboxUIDL(uint32(uidvalidity), uint32(uid)), variant)
		default:
			return dbError("delivering", err)
		}
	}
}
