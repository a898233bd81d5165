package postgres

import (
	"context"
	"time"

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
