package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// RecordSent adds n recipients to the account's minute and forgets its
// minutes before forget (store.SendLog).
func (s *Store) RecordSent(ctx context.Context, accountID int64, at time.Time, n int, forget time.Time) error {
	return s.withTx(ctx, "recording sent recipients", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sent_recipients WHERE account_id = ? AND minute < ?`,
			accountID, store.SendMinute(forget)); err != nil {
			return dbError("recording sent recipients", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sent_recipients (account_id, minute, recipients) VALUES (?, ?, ?)
			ON CONFLICT (account_id, minute) DO UPDATE SET recipients = recipients + excluded.recipients`,
			accountID, store.SendMinute(at), n)
		if err != nil {
			return accountMissing("recording sent recipients", accountID, err)
		}
		return nil
	})
}

// RecipientsSent sums the account's minutes from since's on
// (store.SendLog).
func (s *Store) RecipientsSent(ctx context.Context, accountID int64, since time.Time) (int, error) {
	var n int
	err := s.reader.QueryRowContext(ctx, `SELECT coalesce(sum(recipients), 0) FROM sent_recipients
		WHERE account_id = ? AND minute >= ?`, accountID, store.SendMinute(since)).Scan(&n)
	if err != nil {
		return 0, temporary("reading sent recipients", err)
	}
	return n, nil
}
