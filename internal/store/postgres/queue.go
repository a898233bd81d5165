package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// insertQueued puts an outbound envelope on the queue, sharing the
// delivery's body, within its transaction.
func insertQueued(ctx context.Context, t *tx, e *store.Envelope, body storedBody, date time.Time) error {
	if e.LocalPrefix < 0 || e.LocalPrefix > body.Size {
		return fmt.Errorf("postgres: LocalPrefix %d of a %d-octet body: %w", e.LocalPrefix, body.Size, store.ErrInvalid)
	}
	var id int64
	err := t.QueryRow(ctx, `INSERT INTO queue
		(sender, body_id, size, dsn_ret, dsn_envid, smtputf8, skip, created, next_try)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id`,
		e.From, body.id, body.Size-e.LocalPrefix, e.DSNReturn, e.DSNEnvelopeID, e.SMTPUTF8, e.LocalPrefix, date).Scan(&id)
	if err != nil {
		return temporary("queueing message", err)
	}
	addrs := make([]string, len(e.Recipients))
	notify := make([]string, len(e.Recipients))
	orcpt := make([]string, len(e.Recipients))
	for i, r := range e.Recipients {
		addrs[i], notify[i], orcpt[i] = r.Address, r.Notify, r.ORcpt
	}
	if _, err := t.Exec(ctx, `INSERT INTO queue_recipients (queue_id, seq, address, notify, orcpt)
		SELECT $1, r.seq, r.address, r.notify, r.orcpt
		FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS r(address, notify, orcpt, seq)`,
		id, addrs, notify, orcpt); err != nil {
		return dbError("queueing message", err)
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
	ms, err := s.queryQueue(ctx, `SELECT `+queueColumns+` WHERE id = $1`, id)
	if err != nil {
		return store.QueuedMessage{}, err
	}
	if len(ms) == 0 {
		return store.QueuedMessage{}, notFound("queued message %d", id)
	}
	return ms[0], nil
}

// queryQueue reads queue rows, then their recipients in one query.
func (s *Store) queryQueue(ctx context.Context, q string, args ...any) ([]store.QueuedMessage, error) {
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.QueuedMessage, error) {
		var m store.QueuedMessage
		err := r.Scan(&m.ID, &m.Envelope.From, &m.Size, &m.Envelope.DSNReturn,
			&m.Envelope.DSNEnvelopeID, &m.Envelope.SMTPUTF8, &m.Envelope.LocalPrefix, &m.Created,
			&m.Attempts, &m.NextAttempt, &m.LastError)
		return m, err
	})
	if err != nil {
		return nil, temporary("reading queue", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	index := make(map[int64]int, len(out))
	ids := make([]int64, len(out))
	for i, m := range out {
		index[m.ID], ids[i] = i, m.ID
	}
	rrows, _ := s.pool.Query(ctx, `SELECT queue_id, address, notify, orcpt, status, reply FROM queue_recipients
		WHERE queue_id = ANY($1) ORDER BY queue_id, seq`, ids)
	var id int64
	var r store.QueueRecipient
	_, err = pgx.ForEachRow(rrows, []any{&id, &r.Address, &r.Notify, &r.ORcpt, &r.Status, &r.Reply}, func() error {
		if i, ok := index[id]; ok {
			out[i].Envelope.Recipients = append(out[i].Envelope.Recipients, r)
		}
		return nil
	})
	if err != nil {
		return nil, temporary("reading queue", err)
	}
	return out, nil
}

// QueuedBody opens a queued message's body after its LocalPrefix: the
// reader starts at the chunk holding the first octet to send.
func (s *Store) QueuedBody(ctx context.Context, id int64) (io.ReadCloser, error) {
	var bodyID, size, skip int64
	err := s.pool.QueryRow(ctx, `SELECT q.body_id, b.size, q.skip FROM queue q JOIN bodies b ON b.id = q.body_id
		WHERE q.id = $1`, id).Scan(&bodyID, &size, &skip)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("queued message %d", id)
	} else if err != nil {
		return nil, temporary("opening queued message", err)
	}
	r := s.openBody(bodyID, size, nil)
	r.off = skip
	return r, nil
}

// DeleteQueued removes a message (and its recipients) from the queue, and
// its body unless a mailbox still shares it.
func (s *Store) DeleteQueued(ctx context.Context, id int64) error {
	return s.withTx(ctx, "deleting queued message", func(t *tx) error {
		var body int64
		err := t.QueryRow(ctx, `DELETE FROM queue WHERE id = $1 RETURNING body_id`, id).Scan(&body)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("queued message %d", id)
		} else if err != nil {
			return temporary("deleting queued message", err)
		}
		return deleteUnreferenced(ctx, t, []int64{body})
	})
}

// ClaimQueued leases due, unleased messages. FOR UPDATE SKIP LOCKED lets
// workers on several nodes claim at once without waiting for each other
// or ever taking the same message: a row another claim is leasing right
// now is skipped, and once that claim commits its lease keeps it out.
func (s *Store) ClaimQueued(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.QueuedMessage, error) {
	if limit <= 0 || !leaseUntil.After(now) {
		return nil, fmt.Errorf("postgres: ClaimQueued limit %d, lease until %s: %w", limit, leaseUntil, store.ErrInvalid)
	}
	var ids []int64
	err := s.withTx(ctx, "claiming queued messages", func(t *tx) error {
		rows, _ := t.Query(ctx, `UPDATE queue SET lease_until = $1
			WHERE id IN (SELECT id FROM queue WHERE next_try <= $2 AND lease_until <= $2
				ORDER BY next_try, id LIMIT $3 FOR UPDATE SKIP LOCKED)
			RETURNING id`, leaseUntil, now, limit)
		var err error
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return temporary("claiming queued messages", err)
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return s.queryQueue(ctx, `SELECT `+queueColumns+` WHERE id = ANY($1) ORDER BY next_try, id`, ids)
}

// RecordRecipients stores per-recipient progress.
func (s *Store) RecordRecipients(ctx context.Context, id int64, rs []store.QueueRecipient) error {
	return s.withTx(ctx, "recording queue recipients", func(t *tx) error {
		for _, r := range rs {
			switch r.Status {
			case store.RecipientPending, store.RecipientDelivered, store.RecipientFailed, store.RecipientBounced:
			default:
				return fmt.Errorf("postgres: recipient status %q: %w", r.Status, store.ErrInvalid)
			}
			tag, err := t.Exec(ctx, `UPDATE queue_recipients SET status = $1, reply = $2
				WHERE queue_id = $3 AND address = $4`, string(r.Status), r.Reply, id, r.Address)
			if err != nil {
				return temporary("recording queue recipients", err)
			}
			if tag.RowsAffected() == 0 {
				return notFound("queued message %d recipient %q", id, r.Address)
			}
		}
		return nil
	})
}

// ReleaseQueued counts an attempt, schedules the next and ends the lease.
func (s *Store) ReleaseQueued(ctx context.Context, id int64, r store.QueueRelease) error {
	return s.updateQueue(ctx, "releasing queued message", id, `UPDATE queue
		SET attempts = attempts + 1, next_try = $1, last_error = $2, lease_until = '-infinity' WHERE id = $3`,
		r.NextAttempt, r.LastError, id)
}

// RetryQueued makes a message due at now; a lease in force stays.
func (s *Store) RetryQueued(ctx context.Context, id int64, now time.Time) error {
	return s.updateQueue(ctx, "retrying queued message", id, `UPDATE queue SET next_try = $1 WHERE id = $2`, now, id)
}

func (s *Store) updateQueue(ctx context.Context, what string, id int64, q string, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return temporary(what, err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("queued message %d", id)
	}
	return nil
}
