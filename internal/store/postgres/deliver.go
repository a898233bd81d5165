package postgres

import (
	"bytes"
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

// Deliver stores d for every recipient (and on the outbound queue) and
// returns nil only once it is durable; on error nothing is visible.
//
// Group commit: the committer stores every delivery waiting at that
// moment in one transaction, so one WAL flush makes many deliveries
// durable. A body of up to inlineMax octets (most mail) is held in memory
// and written in that transaction; the committer sends the whole batch in
// one round trip, two lock statements and a deliver_message call per
// delivery (migration 7) in one pipeline, which PostgreSQL runs as one
// implicit transaction committed at its end (a synchronous commit: the
// results arrive only once it is on disk). While one batch waits for its
// WAL flush the next one runs (see run). A larger body first streams into
// a transaction of its own that commits without waiting for the disk
// (synchronous_commit off): the batch's synchronous commit covers it too,
// as PostgreSQL's WAL is sequential and a commit is durable only with
// everything logged before it. A crash between the two commits leaves an
// unreferenced body, which sweepOrphans removes.
//
// A fetched message's record (Delivery.Fetched) is one more statement in
// that pipeline, before its deliver_message call. A delivery the pipeline
// cannot do (one that also queues mail, records Sieve duplicates or must
// create its mailbox) runs after the batch, in a transaction of Go
// statements (commitSlow).
//
// The batch's transaction holds each target mailbox's row lock until it
// commits, so UIDs still become visible in the order they were given.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) error {
	return s.DeliverBatch(ctx, []store.Delivery{d})[0]
}

// DeliverBatch stores ds as Deliver stores each, handed to the committer
// at once: it never splits them between transactions (commitFast and
// commitSlow are two): a group goes whole through commitFast, or whole
// through commitSlow when one of its deliveries needs Go, in its order
// either way.
func (s *Store) DeliverBatch(ctx context.Context, ds []store.Delivery) []error {
	errs := make([]error, len(ds))
	if err := ctx.Err(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	var groupID uint64 // 0: a delivery of its own
	if len(ds) > 1 {
		groupID = s.commits.groups.Add(1)
	}
	group := make([]*pending, 0, len(ds))
	at := make([]int, 0, len(ds)) // index in ds of each of group
	s.commits.arriving.Add(int64(len(ds)))
	for i, d := range ds {
		if errs[i] = store.CheckDelivery(d); errs[i] != nil {
			s.commits.arriving.Add(-1)
			continue
		}
		now := s.now()
		p := &pending{d: d, date: d.InternalDate, now: now, group: groupID, done: make(chan struct{})}
		if p.date.IsZero() {
			p.date = now
		}
		// Recipients in account order: every delivery locks rows in the
		// same order, which keeps deadlocks between nodes' batches rare.
		p.d.Recipients = slices.Clone(d.Recipients)
		slices.SortStableFunc(p.d.Recipients, func(a, b store.Recipient) int { return cmp.Compare(a.AccountID, b.AccountID) })
		if errs[i] = s.readBody(ctx, p); errs[i] != nil {
			s.commits.arriving.Add(-1)
			continue
		}
		group, at = append(group, p), append(at, i)
	}
	if len(group) > 0 {
		s.commits.submit(group)
	}
	for k, p := range group {
		errs[at[k]] = p.err
	}
	return errs
}

// inlineMax is the largest body (as the client sent it) the committer
// writes in its batch; larger ones are written before (see Deliver).
const inlineMax = chunkSize

// readBody reads p's body: into p.chunks when it is small, else into a
// body committed without waiting for the disk (p.body).
func (s *Store) readBody(ctx context.Context, p *pending) error {
	bp := headBuffers.Get().(*[]byte)
	head, err := readUpTo((*bp)[:0], p.d.Body, inlineMax+1)
	defer func() {
		if cap(head) <= headBufferKept {
			*bp = head[:0]
			headBuffers.Put(bp)
		}
	}()
	if err != nil {
		return store.ReadError{Err: err}
	}
	if len(head) > inlineMax {
		p.body, err = s.writeBodyAsync(ctx, io.MultiReader(bytes.NewReader(head), p.d.Body))
		return err
	}
	var c chunkCollector
	info, err := store.CopyBody(&c, bytes.NewReader(head), false)
	if err != nil {
		return temporary("storing message", err)
	}
	p.body.BodyInfo, p.chunks = info, c.chunks
	return nil
}

// headBuffers holds the buffers readBody reads a body's head into before
// it is copied into chunks: io.ReadAll allocated twice a 10 KB body per
// delivery in slices growing from 512 octets, and read a spool file in as
// many small reads. A buffer grown past headBufferKept is left to the GC.
var headBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const headBufferKept = 64 << 10

// readUpTo appends what r gives to b until EOF or until b holds limit
// octets, growing b as needed.
func readUpTo(b []byte, r io.Reader, limit int) ([]byte, error) {
	for len(b) < limit {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(max(cap(b), 512), limit-len(b)))
		}
		n, err := r.Read(b[len(b):min(cap(b), limit)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// chunkCollector cuts what it is given into chunkSize pieces in memory.
type chunkCollector struct{ chunks [][]byte }

func (c *chunkCollector) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == chunkSize {
			c.chunks = append(c.chunks, make([]byte, 0, min(chunkSize, max(len(p), 4<<10))))
		}
		last := &c.chunks[len(c.chunks)-1]
		take := min(chunkSize-len(*last), len(p))
		*last = append(*last, p[:take]...)
		p = p[take:]
	}
	return n, nil
}

// writeBodyAsync stores a body in a transaction of its own that does not
// wait for the WAL flush (see Deliver).
func (s *Store) writeBodyAsync(ctx context.Context, r io.Reader) (storedBody, error) {
	var body storedBody
	err := s.runTx(ctx, "storing message", func(t *tx) error {
		if _, err := t.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return temporary("storing message", err)
		}
		var err error
		body, err = s.writeBody(ctx, t, r, false)
		return err
	})
	return body, err
}

// pending is one delivery waiting for the committer.
type pending struct {
	d         store.Delivery
	body      storedBody // id 0: not written yet, the octets are in chunks
	chunks    [][]byte
	date, now time.Time
	// group: not 0 for one of a DeliverBatch of several, kept in one
	// transaction in its order with the others of its group.
	group uint64
	err   error
	done  chan struct{}
}

// committer runs the delivery transactions (see Deliver), one batch at
// a time. (Batches run at once on several connections, sharded by
// account, cost more CPU per message and were no faster: smaller batches
// mean more commits, and batches to the same mailboxes wait for each
// other's row locks anyway.)
type committer struct {
	s        *Store
	reqs     chan []*pending
	quit     chan struct{}
	stopped  chan struct{}
	arriving atomic.Int64  // deliveries reading their bodies or not yet taken
	commits  atomic.Int64  // transactions committed, for the benchmark
	groups   atomic.Uint64 // the last pending.group given
	// unindexed counts the deliveries committed since the text indexer
	// was last woken, and waking is set while a timer will wake it
	// (wakeIndexer).
	unindexed atomic.Int64
	waking    atomic.Bool
}

// indexDelay is how long after a delivery's commit the text indexer is
// woken at the latest (wakeIndexer).
const indexDelay = time.Second

// wakeIndexer wakes the text indexer for n deliveries just committed,
// once a batch's worth (textIndexBatch) wait for it, else indexDelay after
// the first of them: an indexer batch costs a statement row per distinct
// term it adds to (a posting chunk read and rewritten), so small batches
// cost more CPU per message than large ones (textIndexBatch), and woken
// after every commit (as store.TextIndexer is by the other writers) the
// indexer took batches of what 100 ms of deliveries brought. Searches stay exact meanwhile:
// they read the messages not indexed yet.
func (c *committer) wakeIndexer(n int) {
	if c.s.indexer == nil {
		return
	}
	if c.unindexed.Add(int64(n)) >= textIndexBatch {
		c.unindexed.Store(0)
		c.s.indexer.Wake()
		return
	}
	// A timer already set wakes the indexer after this commit too: it
	// clears waking before it wakes it.
	if c.waking.CompareAndSwap(false, true) {
		time.AfterFunc(indexDelay, func() {
			c.waking.Store(false)
			c.unindexed.Store(0)
			c.s.indexer.Wake()
		})
	}
}

// maxBatch bounds the deliveries of one transaction; gatherWait how long
// a batch waits for deliveries whose bodies are still being read
// (small next to a WAL flush).
const (
	maxBatch   = 64
	gatherWait = 300 * time.Microsecond
)

func startCommitter(s *Store) *committer {
	c := &committer{s: s, reqs: make(chan []*pending), quit: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// submit hands a group to the committer and waits for the outcome of
// each. It does not give up when the caller's context ends: once
// submitted, the caller must learn whether the message was stored.
func (c *committer) submit(group []*pending) {
	select {
	case c.reqs <- group:
	case <-c.quit:
		c.arriving.Add(-int64(len(group)))
		for _, p := range group {
			p.err = temporary("delivering", errors.New("store closed"))
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
}

// inFlight bounds the batches committing at once: one running its
// statements, the others waiting for their WAL flush.
const inFlight = 2

// run gathers batches and commits each on a goroutine of its own. The
// next batch starts once the previous one's statements ran, while that one
// waits for its WAL flush (a few ms on most disks): PostgreSQL flushes
// both commits together if it can, and holds the previous batch's row
// locks until its commit is durable, so a batch delivering to the same
// mailboxes waits for them and UIDs still become visible in order.
func (c *committer) run() {
	defer close(c.stopped)
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, inFlight)
	timer := time.NewTimer(0)
	<-timer.C
	for {
		select {
		case group := <-c.reqs:
			c.arriving.Add(-int64(len(group)))
			slots <- struct{}{} // what arrives meanwhile joins this batch
			batch := c.gather(group, timer)
			executed := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.commit(batch, sync.OnceFunc(func() { close(executed) }))
				for _, p := range batch {
					close(p.done)
				}
				<-slots
			}()
			<-executed
		case <-c.quit:
			return
		}
	}
}

// gather builds a batch starting with a group: whatever queued up while
// the last commit ran, then, for at most gatherWait, deliveries still
// arriving. Groups are taken whole.
func (c *committer) gather(group []*pending, timer *time.Timer) []*pending {
	batch := append(make([]*pending, 0, max(len(group), maxBatch)), group...)
	for len(batch) < maxBatch {
		select {
		case g := <-c.reqs:
			c.arriving.Add(-int64(len(g)))
			batch = append(batch, g...)
			continue
		default:
		}
		break
	}
	if len(batch) >= maxBatch || c.arriving.Load() <= 0 {
		return batch
	}
	timer.Reset(gatherWait)
	defer timer.Stop()
	for len(batch) < maxBatch && c.arriving.Load() > 0 {
		select {
		case g := <-c.reqs:
			c.arriving.Add(-int64(len(g)))
			batch = append(batch, g...)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// commit stores a batch and sets each delivery's err: first in one
// round trip every delivery deliver_message can do (commitFast), then
// the rest in a transaction of Go statements (commitSlow).
// executed is called once the batch's statements ran (at the latest when
// commit returns).
func (c *committer) commit(batch []*pending, executed func()) {
	defer executed()
	// Deliveries in order of their first account, like each delivery's
	// recipients: batches of two nodes lock mailboxes in the same order.
	slices.SortStableFunc(batch, func(a, b *pending) int { return cmp.Compare(firstAccount(a), firstAccount(b)) })
	slowGroups := map[uint64]bool{}
	for _, p := range batch {
		if needsGo(p) && p.group != 0 {
			slowGroups[p.group] = true
		}
	}
	var fast, slow []*pending
	for _, p := range batch {
		if needsGo(p) || slowGroups[p.group] {
			slow = append(slow, p)
		} else {
			fast = append(fast, p)
		}
	}
	slow = append(slow, c.commitFast(fast, executed)...)
	if len(slow) > 0 {
		c.commitSlow(slow)
	}
}

// needsGo reports a delivery commitFast cannot store: one that queues
// mail or records Sieve duplicates.
func needsGo(p *pending) bool { return p.d.Outbound != nil || len(p.d.Duplicates) > 0 }

// Error codes deliver_message raises (migration 7).
const (
	codeMustCreate = "PXCRE"
	codeNoAccount  = "PXACC"
	codeOverQuota  = "PXQUO"
	codeUIDLTaken  = "PXUID"
)

// deliverSQL stores one delivery (migration 7's deliver_message).
const deliverSQL = `SELECT out_account, out_mailbox FROM deliver_message($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`

// lockMailboxesSQL and lockAccountsSQL take, in id order, the row locks of the batch's target
// mailboxes and then of their accounts, before deliver_message takes them
// recipient by recipient: batches running at once then lock in one global
// order and cannot deadlock each other. (A mailbox the batch falls back
// from, to INBOX, is locked later; a deadlock that makes is retried.)
// The account locks also keep the quota check exact, for a batch of one
// delivery too: deliver_message reads the account's usage in its
// mailbox UPDATE without locking the account row, so without them two
// deliveries to one account committing at once could both pass the
// check on the same stale usage.
const (
	lockMailboxesSQL = `SELECT 1 FROM mailboxes WHERE (account_id, name) IN (SELECT * FROM unnest($1::bigint[], $2::text[]))
		ORDER BY id FOR NO KEY UPDATE`
	lockAccountsSQL = `SELECT 1 FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`
	// usedSQL, last in the batch, reads its accounts' usage as the
	// commit leaves it (the batch holds their row locks) for the
	// directory cache (cache.go).
	usedSQL = `SELECT id, used FROM accounts WHERE id = ANY($1)`
)

// commitFast stores the batch with one deliver_message call per delivery,
// after the locks, all sent at once and run by PostgreSQL as one implicit
// transaction (committed when the pipeline ends, with the server's
// synchronous commit). When a call fails, nothing is committed: the failing delivery
// gets its error, or is returned for commitSlow when only Go can do it
// (a mailbox to create; with the rest of its group), and the rest is sent
// again. A delivery
// PostgreSQL aborted to break a deadlock is tried again.
func (c *committer) commitFast(batch []*pending, executed func()) (slow []*pending) {
	s := c.s
	ctx := context.Background() // callers cannot abandon a commit (submit)
	live := batch
	for retries := 0; len(live) > 0; {
		b := &pgx.Batch{}
		accounts := s.queueLocks(b, live)
		for _, p := range live {
			s.queueDelivery(b, p)
		}
		b.Queue(usedSQL, accounts)
		var events []store.Event
		used := make(map[int64]int64)
		failed, err := -1, error(nil)
		mark := s.cache.mark()
		br := s.pool.SendBatch(ctx, b)
		for range 2 {
			if _, err = br.Exec(); err != nil {
				break
			}
		}
		for i, p := range live {
			if err != nil {
				break
			}
			if p.d.Fetched != nil {
				if _, err = br.Exec(); err != nil {
					failed = i
					break
				}
			}
			rows, _ := br.Query()
			var account, mailbox int64
			_, err = pgx.ForEachRow(rows, []any{&account, &mailbox}, func() error {
				events = append(events, store.Event{Kind: store.EventNew, AccountID: account, MailboxID: mailbox})
				return nil
			})
			if err != nil {
				failed = i
				break
			}
		}
		if err == nil {
			var id, u int64
			rows, _ := br.Query()
			_, err = pgx.ForEachRow(rows, []any{&id, &u}, func() error {
				used[id] = u
				return nil
			})
		}
		if err == nil {
			executed() // the rest is the commit's WAL flush
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			c.commits.Add(1)
			s.cache.delivered(mark, used)
			c.wakeIndexer(len(live))
			for _, e := range events {
				s.events.Publish(e)
			}
			return slow
		}
		var pe *pgconn.PgError
		if failed < 0 && retryable(err) && retries < maxAttempts {
			retries++ // a lock statement was chosen to break a deadlock
			continue
		}
		if failed < 0 || !errors.As(err, &pe) {
			// The connection or the commit failed: nothing committed, or
			// the outcome is unknown; either way the caller may retry.
			for _, p := range live {
				p.err = temporary("delivering", err)
			}
			return slow
		}
		p := live[failed]
		switch {
		case pe.Code == codeMustCreate && p.group != 0:
			// The whole group, in its order: one transaction.
			for _, q := range live {
				if q.group == p.group {
					slow = append(slow, q)
				}
			}
			live = slices.DeleteFunc(slices.Clone(live), func(q *pending) bool { return q.group == p.group })
			continue
		case pe.Code == codeMustCreate:
			slow = append(slow, p)
		case retryable(err) && retries < maxAttempts:
			retries++
			continue
		case p.d.Fetched != nil && pe.TableName == "fetch_seen":
			p.err = fetchSeenError(p.d.Fetched, pe)
		default:
			p.err = deliveryError(pe)
		}
		live = slices.Delete(slices.Clone(live), failed, failed+1)
	}
	return slow
}

// queueLocks adds the lock statements of a batch to b and returns the
// batch's accounts.
func (s *Store) queueLocks(b *pgx.Batch, batch []*pending) []int64 {
	var accounts []int64
	var names []string
	for _, p := range batch {
		for _, r := range p.d.Recipients {
			accounts = append(accounts, r.AccountID)
			names = append(names, targetName(r))
		}
	}
	b.Queue(lockMailboxesSQL, accounts, names)
	b.Queue(lockAccountsSQL, accounts)
	return accounts
}

// targetName is the mailbox a recipient names, INBOX when it names none
// or one that cannot exist.
func targetName(r store.Recipient) string {
	name := store.CanonicalMailboxName(r.Mailbox)
	if name == "" || !store.ValidMailboxName(name) {
		return store.InboxName
	}
	return name
}

// fetchSeenSQL records a fetched message (store.FetchMark).
const fetchSeenSQL = `INSERT INTO fetch_seen (source_id, scope, id, fingerprint) VALUES ($1, $2, $3, $4)`

// fetchSeenError maps a failure of fetchSeenSQL to the store's errors.
func fetchSeenError(f *store.FetchMark, err error) error {
	if isForeignKeyViolation(err) {
		return notFound("fetch source %d", f.SourceID)
	}
	return dbError("recording fetched message", err)
}

// queueDelivery adds p's statements to b: its fetch record, if any, and
// its deliver_message call.
func (s *Store) queueDelivery(b *pgx.Batch, p *pending) {
	if f := p.d.Fetched; f != nil {
		b.Queue(fetchSeenSQL, f.SourceID, f.Scope, f.ID, f.Fingerprint)
	}
	n := len(p.d.Recipients)
	accounts := make([]int64, n)
	names := make([]string, n)
	create := make([]bool, n)
	flags := make([]string, n)
	uidls := make([]string, n)
	for i, r := range p.d.Recipients {
		accounts[i], names[i], create[i], flags[i], uidls[i] = r.AccountID, targetName(r), r.Create, store.FormatFlags(r.Flags), r.UIDL
	}
	var body *int64
	if p.body.id != 0 {
		body = &p.body.id
	}
	b.Queue(deliverSQL, s.node, channel(s.schema), int(store.EventNew), store.MaxUIDLVariants,
		accounts, names, create, flags, uidls, body, p.body.Size, p.body.DotLines, p.chunks, p.date, p.now)
}

// deliveryError maps an error deliver_message raised to the store's.
func deliveryError(pe *pgconn.PgError) error {
	switch pe.Code {
	case codeNoAccount:
		return fmt.Errorf("postgres: %s: %w", pe.Message, store.ErrNotFound)
	case codeOverQuota:
		return fmt.Errorf("postgres: %s: %w", pe.Message, store.ErrQuota)
	case codeUIDLTaken:
		return fmt.Errorf("postgres: %s: %w", pe.Message, store.ErrExists)
	}
	return dbError("delivering", pe)
}

// commitSlow stores a batch in one transaction of Go statements and sets
// each delivery's err. It runs without savepoints (two round trips fewer
// per delivery): when one delivery fails, it is left out and the rest
// run again. A delivery PostgreSQL aborted to break a deadlock is tried
// again.
func (c *committer) commitSlow(batch []*pending) {
	s := c.s
	ctx := context.Background() // callers cannot abandon a commit (submit)
	live := slices.Clone(batch)
	for retries := 0; len(live) > 0; {
		var failed *pending
		err := s.runTx(ctx, "delivering", func(t *tx) error {
			for _, p := range live {
				if err := s.insertDelivery(ctx, t, p); err != nil {
					failed, p.err = p, err
					return errDelivery
				}
			}
			return nil
		})
		switch {
		case err == nil:
			c.commits.Add(1)
			return
		case !errors.Is(err, errDelivery):
			// BEGIN or COMMIT failed: nothing committed, or the
			// outcome is unknown; either way the caller may retry.
			for _, p := range live {
				p.err = err
			}
			return
		case retryable(failed.err) && retries < maxAttempts:
			retries++
			failed.err = nil
		default:
			live = slices.DeleteFunc(live, func(p *pending) bool { return p == failed })
		}
	}
}

// errDelivery stops a batch's transaction at a failing delivery.
var errDelivery = errors.New("a delivery of the batch failed")

func firstAccount(p *pending) int64 {
	if len(p.d.Recipients) > 0 {
		return p.d.Recipients[0].AccountID
	}
	return 0
}

// insertDelivery adds one delivery's rows within t, and its body when it
// is still in memory.
func (s *Store) insertDelivery(ctx context.Context, t *tx, p *pending) error {
	if f := p.d.Fetched; f != nil {
		if _, err := t.Exec(ctx, fetchSeenSQL, f.SourceID, f.Scope, f.ID, f.Fingerprint); err != nil {
			return fetchSeenError(f, err)
		}
	}
	body := p.body
	if body.id == 0 {
		if err := t.QueryRow(ctx, `SELECT insert_body($1, $2, $3)`, body.Size, body.DotLines, p.chunks).Scan(&body.id); err != nil {
			return temporary("storing message", err)
		}
	}
	for _, r := range p.d.Recipients {
		if err := s.deliverOne(ctx, t, r, body, p.date, p.now); err != nil {
			return err
		}
	}
	for _, d := range p.d.Duplicates {
		if err := recordDuplicate(ctx, t, d); err != nil {
			return err
		}
	}
	if p.d.Outbound != nil {
		return insertQueued(ctx, t, p.d.Outbound, body, p.date)
	}
	return nil
}

// deliverOne adds the message row of one recipient.
func (s *Store) deliverOne(ctx context.Context, t *tx, r store.Recipient, body storedBody, date, now time.Time) error {
	mb, uid, err := s.targetUID(ctx, t, r)
	if err != nil {
		return err
	}
	if err := fitsQuota(ctx, t, r.AccountID, body.Size); err != nil {
		return err
	}
	_, err = insertRow(ctx, t, mb, uid, newRow{bodyID: body.id, size: body.Size, dotLines: body.DotLines,
		date: date, flags: store.FormatFlags(r.Flags), uidl: r.UIDL, saved: now}, false)
	if err != nil {
		return err
	}
	t.event(store.Event{Kind: store.EventNew, AccountID: r.AccountID, MailboxID: mb.ID})
	return nil
}

// targetUID takes the next UID of the mailbox r names, creating the
// mailbox when r asks for it, or of INBOX when the named mailbox cannot be
// used (see store.Recipient). Taking the UID locks the mailbox row.
func (s *Store) targetUID(ctx context.Context, t *tx, r store.Recipient) (store.Mailbox, uint32, error) {
	name := targetName(r)
	var mb store.Mailbox
	var uid uint32
	next := func(name string) error {
		return t.QueryRow(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1 WHERE account_id = $1 AND name = $2
			RETURNING id, account_id, name, uidvalidity, uidnext - 1`, r.AccountID, name).
			Scan(&mb.ID, &mb.AccountID, &mb.Name, &mb.UIDValidity, &uid)
	}
	err := next(name)
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName && r.Create {
		var exists bool
		if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, r.AccountID).Scan(&exists); err != nil {
			return mb, 0, temporary("delivering", err)
		}
		if exists {
			// ON CONFLICT: another delivery may be creating it right now.
			if err := s.createParents(ctx, t, r.AccountID, name); err != nil {
				return mb, 0, err
			}
			validity, verr := s.nextUIDValidity(ctx, t)
			if verr != nil {
				return mb, 0, verr
			}
			if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, r.AccountID, name, validity); err != nil {
				return mb, 0, temporary("creating mailbox", err)
			}
			t.event(store.Event{Kind: store.EventMailboxes, AccountID: r.AccountID})
			err = next(name)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName {
		err = next(store.InboxName)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return mb, 0, notFound("account %d", r.AccountID)
	} else if err != nil {
		return mb, 0, temporary("delivering", err)
	}
	return mb, uid, nil
}
