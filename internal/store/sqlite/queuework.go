package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// ClaimQueued leases due, unleased messages in one write transaction, so
// two claims (two workers, two processes) never return the same message
// while its lease runs.
func (s *Store) ClaimQueued(ctx context.Context, now, leaseUntil time.Time, limit int) ([]store.QueuedMessage, error) {
	if limit <= 0 || !leaseUntil.After(now) {
		return nil, fmt.Errorf("sqlite: ClaimQueued limit %d, lease until %s: %w", limit, leaseUntil, store.ErrInvalid)
	}
	var ids []int64
	err := s.withTx(ctx, "claiming queued messages", func(tx *sql.Tx) error {
		rows, err := s.txQuery(ctx, tx, sqlQueueClaim, toDB(leaseUntil), toDB(now), toDB(now), limit)
		if err != nil {
			return temporary("claiming queued messages", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return temporary("claiming queued messages", err)
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return temporary("claiming queued messages", err)
		}
		return nil
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return s.queryQueue(ctx, `SELECT `+queueColumns+` WHERE id IN (SELECT value FROM json_each(?)) ORDER BY next_try, id`,
		jsonInts(ids))
}

// RecordRecipients stores per-recipient progress.
func (s *Store) RecordRecipients(ctx context.Context, id int64, rs []store.QueueRecipient) error {
	return s.withTx(ctx, "recording queue recipients", func(tx *sql.Tx) error {
		for _, r := range rs {
			switch r.Status {
			case store.RecipientPending, store.RecipientDelivered, store.RecipientFailed, store.RecipientBounced:
			default:
				return fmt.Errorf("sqlite: recipient status %q: %w", r.Status, store.ErrInvalid)
			}
			res, err := tx.ExecContext(ctx, `UPDATE queue_recipients SET status = ?, reply = ?
				WHERE queue_id = ? AND address = ?`, string(r.Status), r.Reply, id, r.Address)
			if err != nil {
				return temporary("recording queue recipients", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("sqlite: queued message %d recipient %q: %w", id, r.Address, store.ErrNotFound)
			}
		}
		return nil
	})
}

// ReleaseQueued counts an attempt, schedules the next and ends the lease.
func (s *Store) ReleaseQueued(ctx context.Context, id int64, r store.QueueRelease) error {
	return s.updateQueue(ctx, "releasing queued message", id, `UPDATE queue
		SET attempts = attempts + 1, next_try = ?, last_error = ?, lease_until = 0 WHERE id = ?`,
		toDB(r.NextAttempt), r.LastError, id)
}

// RetryQueued makes a message due at now; a lease in force stays.
func (s *Store) RetryQueued(ctx context.Context, id int64, now time.Time) error {
	return s.updateQueue(ctx, "retrying queued message", id, `UPDATE queue SET next_try = ? WHERE id = ?`, toDB(now), id)
}

func (s *Store) updateQueue(ctx context.Context, what string, id int64, q string, args ...any) error {
	return s.withTx(ctx, what, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return temporary(what, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: queued message %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}
