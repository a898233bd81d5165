package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddFetchSource adds a fetch source to an account.
func (s *Store) AddFetchSource(ctx context.Context, src store.FetchSource) (store.FetchSource, error) {
	if src.URL == "" || src.Interval < 0 {
		return store.FetchSource{}, fmt.Errorf("sqlite: fetch source without URL or with a negative interval: %w", store.ErrInvalid)
	}
	if src.Created.IsZero() {
		src.Created = s.now()
	}
	err := s.withTx(ctx, "adding fetch source", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT address FROM accounts WHERE id = ?`, src.AccountID).Scan(&src.Account)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: account %d: %w", src.AccountID, store.ErrNotFound)
		} else if err != nil {
			return temporary("adding fetch source", err)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO fetch_sources (account_id, url, password, delete_after, interval, created)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, src.AccountID, src.URL, src.Password, src.Delete,
			int64(src.Interval/time.Second), toDB(src.Created)).Scan(&src.ID)
	})
	if err != nil {
		return store.FetchSource{}, err
	}
	src.Created = fromDB(toDB(src.Created))
	src.Interval = src.Interval.Truncate(time.Second)
	src.LastRun, src.LastError, src.Fetched, src.Failures = time.Time{}, "", 0, 0
	return src, nil
}

const sqlFetchSources = `SELECT f.id, f.account_id, a.address, f.url, f.password, f.delete_after, f.interval,
	f.created, f.last_run, f.last_error, f.fetched, f.failures
	FROM fetch_sources f JOIN accounts a ON a.id = f.account_id`

// FetchSource looks a fetch source up by id.
func (s *Store) FetchSource(ctx context.Context, id int64) (store.FetchSource, error) {
	srcs, err := s.queryFetchSources(ctx, sqlFetchSources+` WHERE f.id = ?`, id)
	if err != nil {
		return store.FetchSource{}, err
	}
	if len(srcs) == 0 {
		return store.FetchSource{}, fmt.Errorf("sqlite: fetch source %d: %w", id, store.ErrNotFound)
	}
	return srcs[0], nil
}

// ListFetchSources lists the fetch sources of an account, or all.
func (s *Store) ListFetchSources(ctx context.Context, accountID int64) ([]store.FetchSource, error) {
	return s.queryFetchSources(ctx, sqlFetchSources+` WHERE ?1 = 0 OR f.account_id = ?1 ORDER BY f.id`, accountID)
}

func (s *Store) queryFetchSources(ctx context.Context, q string, args ...any) ([]store.FetchSource, error) {
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, temporary("reading fetch sources", err)
	}
	defer rows.Close()
	var out []store.FetchSource
	for rows.Next() {
		var f store.FetchSource
		var interval, created, lastRun int64
		if err := rows.Scan(&f.ID, &f.AccountID, &f.Account, &f.URL, &f.Password, &f.Delete, &interval,
			&created, &lastRun, &f.LastError, &f.Fetched, &f.Failures); err != nil {
			return nil, temporary("reading fetch sources", err)
		}
		f.Interval = time.Duration(interval) * time.Second
		f.Created = fromDB(created)
		if lastRun != 0 {
			f.LastRun = fromDB(lastRun)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("reading fetch sources", err)
	}
	return out, nil
}

// DeleteFetchSource removes a fetch source and its fetched ids.
func (s *Store) DeleteFetchSource(ctx context.Context, id int64) error {
	return s.withTx(ctx, "deleting fetch source", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fetch_seen WHERE source_id = ?`, id); err != nil {
			return temporary("deleting fetch source", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM fetch_sources WHERE id = ?`, id)
		if err != nil {
			return temporary("deleting fetch source", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: fetch source %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// RecordFetchRun stores the outcome of a run.
func (s *Store) RecordFetchRun(ctx context.Context, id int64, r store.FetchRun) error {
	if r.At.IsZero() {
		r.At = s.now()
	}
	return s.withTx(ctx, "recording fetch run", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE fetch_sources SET last_run = ?, last_error = ?,
			fetched = fetched + ?, failures = CASE WHEN ? = '' THEN 0 ELSE failures + 1 END WHERE id = ?`,
			toDB(r.At), r.Error, r.Fetched, r.Error, id)
		if err != nil {
			return temporary("recording fetch run", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlite: fetch source %d: %w", id, store.ErrNotFound)
		}
		return nil
	})
}

// FetchedIDs returns the ids a source has fetched within a scope.
func (s *Store) FetchedIDs(ctx context.Context, sourceID int64, scope string) ([]store.FetchedID, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT id, fingerprint FROM fetch_seen
		WHERE source_id = ? AND scope = ? ORDER BY id`, sourceID, scope)
	if err != nil {
		return nil, temporary("reading fetched ids", err)
	}
	defer rows.Close()
	var out []store.FetchedID
	for rows.Next() {
		f := store.FetchedID{Scope: scope}
		if err := rows.Scan(&f.ID, &f.Fingerprint); err != nil {
			return nil, temporary("reading fetched ids", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("reading fetched ids", err)
	}
	return out, nil
}

// AddFetchedIDs records ids without a delivery.
func (s *Store) AddFetchedIDs(ctx context.Context, sourceID int64, ids []store.FetchedID) error {
	if len(ids) == 0 {
		return nil
	}
	return s.withTx(ctx, "recording fetched ids", func(tx *sql.Tx) error {
		for _, f := range ids {
			_, err := tx.ExecContext(ctx, `INSERT INTO fetch_seen (source_id, scope, id, fingerprint)
				VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, sourceID, f.Scope, f.ID, f.Fingerprint)
			if isForeignKeyViolation(err) {
				return fmt.Errorf("sqlite: fetch source %d: %w", sourceID, store.ErrNotFound)
			} else if err != nil {
				return temporary("recording fetched ids", err)
			}
		}
		return nil
	})
}

// ForgetFetchedIDs removes recorded ids of a scope.
func (s *Store) ForgetFetchedIDs(ctx context.Context, sourceID int64, scope string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	return s.withTx(ctx, "forgetting fetched ids", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM fetch_seen WHERE source_id = ? AND scope = ?
			AND id IN (SELECT value FROM json_each(?))`, sourceID, scope, jsonStrings(ids))
		if err != nil {
			return temporary("forgetting fetched ids", err)
		}
		return nil
	})
}
