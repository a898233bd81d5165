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
	_, err := s.reserveSent(ctx, accountID, at, n, -1, time.Time{}, forget)
	return err
}

// ReserveSent is RecordSent within limit (store.SendLog). The transaction
// deletes first, so it holds SQLite's one write lock before it reads the
// sum: no other process can add between the check and the insert.
func (s *Store) ReserveSent(ctx context.Context, accountID int64, at time.Time, n, limit int, since, forget time.Time) (bool, error) {
	return s.reserveSent(ctx, accountID, at, n, limit, since, forget)
}

// reserveSent adds n unless limit >= 0 and the sum since since would pass
// it.
func (s *Store) reserveSent(ctx context.Context, accountID int64, at time.Time, n, limit int, since, forget time.Time) (bool, error) {
	added := false
	err := s.withTx(ctx, "recording sent recipients", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sent_recipients WHERE account_id = ? AND minute < ?`,
			accountID, store.SendMinute(forget)); err != nil {
			return dbError("recording sent recipients", err)
		}
		if limit >= 0 {
			var sent int
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(recipients), 0) FROM sent_recipients
				WHERE account_id = ? AND minute >= ?`, accountID, store.SendMinute(since)).Scan(&sent); err != nil {
				return dbError("reading sent recipients", err)
			}
			if sent+n > limit {
				return nil
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sent_recipients (account_id, minute, recipients) VALUES (?, ?, ?)
			ON CONFLICT (account_id, minute) DO UPDATE SET recipients = recipients + excluded.recipients`,
			accountID, store.SendMinute(at), n)
		if err != nil {
			return accountMissing("recording sent recipients", accountID, err)
		}
		added = true
		return nil
	})
	return added, err
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
