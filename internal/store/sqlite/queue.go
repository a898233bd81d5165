package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/pochta-mail/pochta/internal/store"
)

// insertQueued puts p's outbound envelope on the queue, sharing p's body,
// within the delivery's transaction.
func (s *Store) insertQueued(ctx context.Context, tx *sql.Tx, p *pending) error {
	e := p.outbound
	var id int64
	if e.LocalPrefix < 0 || e.LocalPrefix > p.body.size {
		return fmt.Errorf("sqlite: LocalPrefix %d of a %d-octet body: %w", e.LocalPrefix, p.body.size, store.ErrInvalid)
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO queue
		(sender, body, size, dsn_ret, dsn_envid, smtputf8, skip, created, next_try)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.From, p.body.name, p.body.size-e.LocalPrefix, e.DSNReturn, e.DSNEnvelopeID, e.SMTPUTF8, e.LocalPrefix,
		toDB(p.date), toDB(p.date)).Scan(&id)
	if err != nil {
		return temporary("queueing message", err)
	}
	for _, r := range e.Recipients {
		if _, err := tx.ExecContext(ctx, `INSERT INTO queue_recipients (queue_id, address, notify, orcpt)
			VALUES (?, ?, ?, ?)`, id, r.Address, r.Notify, r.ORcpt); err != nil {
			return dbError("queueing message", err)
		}
	}
	return nil
}

const queueColumns = `id, sender, size, dsn_ret, dsn_envid, smtputf8, skip, created,
	attempts, next_try, last_error FROM queue`

// QueuedMessages lists the queue, oldest first.
func (s *Store) QueuedMessages(ctx context.Context) ([]store.QueuedMessage, error) {
	return s.queryQueue(ctx, `SELECT `+queueColumns+` ORDER BY id`)
}

// QueuedMessage returns one queued message.
func (s *Store) QueuedMessage(ctx context.Context, id int64) (store.QueuedMessage, error) {
	ms, err := s.queryQueue(ctx, `SELECT `+queueColumns+` WHERE id = ?`, id)
	if err != nil {
		return store.QueuedMessage{}, err
	}
	if len(ms) == 0 {
		return store.QueuedMessage{}, fmt.Errorf("sqlite: queued message %d: %w", id, store.ErrNotFound)
	}
	return ms[0], nil
}

// queryQueue reads queue rows and then their recipients.
func (s *Store) queryQueue(ctx context.Context, q string, args ...any) ([]store.QueuedMessage, error) {
	// Reader statements prepared once (the queries are fixed strings):
	// a claim runs this for every batch of messages the worker takes.
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, temporary("reading queue", err)
	}
	var out []store.QueuedMessage
	index := map[int64]int{}
	for rows.Next() {
		var m store.QueuedMessage
		var created, next int64
		if err := rows.Scan(&m.ID, &m.Envelope.From, &m.Size, &m.Envelope.DSNReturn,
			&m.Envelope.DSNEnvelopeID, &m.Envelope.SMTPUTF8, &m.Envelope.LocalPrefix, &created,
			&m.Attempts, &next, &m.LastError); err != nil {
			rows.Close()
			return nil, temporary("reading queue", err)
		}
		m.Created, m.NextAttempt = fromDB(created), fromDB(next)
		index[m.ID] = len(out)
		out = append(out, m)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, temporary("reading queue", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	// One pass over the recipients of the listed messages; the queue is
	// small next to the mailboxes, so reading its recipients is cheap.
	lo, hi := out[0].ID, out[0].ID
	for _, m := range out {
		lo, hi = min(lo, m.ID), max(hi, m.ID)
	}
	rrows, err := s.query(ctx, `SELECT queue_id, address, notify, orcpt, status, reply FROM queue_recipients
		WHERE queue_id BETWEEN ? AND ? ORDER BY queue_id, rowid`, lo, hi)
	if err != nil {
		return nil, temporary("reading queue", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var id int64
		var r store.QueueRecipient
		if err := rrows.Scan(&id, &r.Address, &r.Notify, &r.ORcpt, &r.Status, &r.Reply); err != nil {
			return nil, temporary("reading queue", err)
		}
		if i, ok := index[id]; ok {
			out[i].Envelope.Recipients = append(out[i].Envelope.Recipients, r)
		}
	}
	if err := rrows.Err(); err != nil {
		return nil, temporary("reading queue", err)
	}
	return out, nil
}

// QueuedBody opens a queued message's body. The statement is prepared
// once (parsing it cost more than running it, once per message sent) and
// reads the inline body through scalar subqueries rather than a join (see
// queryBody); the lookup ignores ctx's cancellation, as maildrop.Body
// does: it is one indexed row.
func (s *Store) QueuedBody(ctx context.Context, id int64) (io.ReadCloser, error) {
	var name string
	var inline bool
	var data []byte
	var skip int64
	err := s.queryRow(context.WithoutCancel(ctx), `SELECT q.body, q.skip,
		EXISTS (SELECT 1 FROM blobs WHERE name = q.body), (SELECT data FROM blobs WHERE name = q.body)
		FROM queue q WHERE q.id = ?`, id).Scan(&name, &skip, &inline, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: queued message %d: %w", id, store.ErrNotFound)
	} else if err != nil {
		return nil, temporary("opening queued message", err)
	}
	if inline {
		if skip > int64(len(data)) {
			return nil, temporary("opening queued message", fmt.Errorf("prefix of %d octets in a %d-octet body", skip, len(data)))
		}
		return io.NopCloser(bytes.NewReader(data[skip:])), nil
	}
	r, err := s.openBody(name, false, nil)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("sqlite: queued message %d: %w", id, err)
	} else if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, skip); err != nil {
		r.Close()
		return nil, temporary("opening queued message", err)
	}
	return r, nil
}

// DeleteQueued removes a message (and its recipients) from the queue, and
// its body unless a mailbox still shares it. Deletions that arrive while
// one is committing share the next transaction (group commit, as
// deliveries do): a queue worker finishing many messages at once pays one
// WAL fsync for them, not one each.
func (s *Store) DeleteQueued(ctx context.Context, id int64) error {
	return s.deletes.do(ctx, id)
}

// deleteQueuedBatch deletes the messages of a batch in one transaction;
// each request learns its own outcome (ErrNotFound for a message not
// there), and a failure of the transaction fails them all.
func (s *Store) deleteQueuedBatch(ctx context.Context, batch []*deleteReq) {
	var unreferenced []string
	ids := make([]int64, len(batch))
	for i, r := range batch {
		ids[i] = r.id
	}
	deleted := map[int64]bool{}
	err := s.withTx(ctx, "deleting queued messages", func(tx *sql.Tx) error {
		// One statement for the batch, prepared at Open: a DELETE
		// compiled per message was a fifth of the queue's CPU.
		rows, err := s.txQuery(ctx, tx, sqlQueueDelete, jsonInts(ids))
		if err != nil {
			return temporary("deleting queued messages", err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var id int64
			var name string
			if err := rows.Scan(&id, &name); err != nil {
				return temporary("deleting queued messages", err)
			}
			deleted[id] = true
			names = append(names, name)
		}
		if err := rows.Err(); err != nil {
			return temporary("deleting queued messages", err)
		}
		rows.Close()
		unreferenced, err = s.unreferencedBodies(ctx, tx, names)
		return err
	})
	for _, r := range batch {
		switch {
		case err != nil:
			r.err = err
		case !deleted[r.id]:
			r.err = fmt.Errorf("sqlite: queued message %d: %w", r.id, store.ErrNotFound)
		default:
			r.err = nil
		}
		r.done <- r.err
	}
	if err == nil {
		s.removeBodies(unreferenced)
	}
}

// deleteReq is one DeleteQueued waiting for its batch.
type deleteReq struct {
	id   int64
	err  error
	done chan error    // the outcome
	lead chan struct{} // told to commit the pending batches itself
}

// deleteBatcher runs DeleteQueued calls in shared transactions without a
// goroutine of its own: the caller that finds none running leads,
// committing what is pending batch after batch until its own request is
// done, then hands the lead to the oldest caller still waiting.
type deleteBatcher struct {
	mu      sync.Mutex
	pending []*deleteReq
	running bool
	s       *Store
	batches atomic.Int64 // transactions run, for tests
}

// maxDeleteBatch bounds one transaction.
const maxDeleteBatch = 256

func (b *deleteBatcher) do(ctx context.Context, id int64) error {
	r := &deleteReq{id: id, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.running {
		b.mu.Unlock()
		select {
		case err := <-r.done:
			return err
		case <-r.lead:
			b.mu.Lock()
		}
	}
	b.running = true
	ctx = context.WithoutCancel(ctx) // others' deletions ride on it
	for mine := false; ; {
		n := min(len(b.pending), maxDeleteBatch)
		batch := append([]*deleteReq(nil), b.pending[:n]...)
		b.pending = b.pending[n:]
		for _, x := range batch {
			mine = mine || x == r
		}
		b.mu.Unlock()
		b.batches.Add(1)
		b.s.deleteQueuedBatch(ctx, batch)
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			break
		}
		if mine {
			b.pending[0].lead <- struct{}{}
			break
		}
	}
	b.mu.Unlock()
	return <-r.done
}
