package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// RecordSent adds n recipients to the account's minute and forgets its
// minutes before forget (store.SendLog), in one statement: every node
// adds to the same row (ON CONFLICT), so their counts add up.
func (s *Store) RecordSent(ctx context.Context, accountID int64, at time.Time, n int, forget time.Time) error {
	_, err := s.pool.Exec(ctx, `WITH forgotten AS (
			DELETE FROM sent_recipients WHERE account_id = $1 AND minute < $4)
		INSERT INTO sent_recipients AS r (account_id, minute, recipients) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, minute) DO UPDATE SET recipients = r.recipients + excluded.recipients`,
		accountID, store.SendMinute(at), n, store.SendMinute(forget))
	if err != nil {
		return accountMissing("recording sent recipients", accountID, err)
	}
	return nil
}

// ReserveSent is RecordSent within limit (store.SendLog). A
// transaction-scoped advisory lock per account makes concurrent reserves
// of one account, on any node, take turns between the sum and the insert
// (under READ COMMITTED two could otherwise both see room). The lock key
// folds the account id into 32 bits: a collision only makes two accounts
// wait for each other for a moment.
func (s *Store) ReserveSent(ctx context.Context, accountID int64, at time.Time, n, limit int, since, forget time.Time) (bool, error) {
	added := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pochta sent_recipients'), ($1::bigint % 2147483647)::int)`,
			accountID); err != nil {
			return err
		}
		var sent int
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(recipients), 0)::int FROM sent_recipients
			WHERE account_id = $1 AND minute >= $2`, accountID, store.SendMinute(since)).Scan(&sent); err != nil {
			return err
		}
		if sent+n > limit {
			return nil
		}
		if _, err := tx.Exec(ctx, `WITH forgotten AS (
				DELETE FROM sent_recipients WHERE account_id = $1 AND minute < $4)
			INSERT INTO sent_recipients AS r (account_id, minute, recipients) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, minute) DO UPDATE SET recipients = r.recipients + excluded.recipients`,
			accountID, store.SendMinute(at), n, store.SendMinute(forget)); err != nil {
			return err
		}
		added = true
		return nil
	})
	if err != nil {
		return false, accountMissing("reserving sent recipients", accountID, err)
	}
	return added, nil
}

// RecipientsSent sums the account's minutes from since's on
// (store.SendLog).
func (s *Store) RecipientsSent(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(recipients), 0)::int FROM sent_recipients
		WHERE account_id = $1 AND minute >= $2`, accountID, store.SendMinute(since)).Scan(&n)
	if err != nil {
		return 0, temporary("reading sent recipients", err)
	}
	return n, nil
}
