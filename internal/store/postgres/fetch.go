package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddFetchSource adds a fetch source to an account.
func (s *Store) AddFetchSource(ctx context.Context, src store.FetchSource) (store.FetchSource, error) {
	if src.URL == "" || src.Interval < 0 {
		return store.FetchSource{}, fmt.Errorf("postgres: fetch source without URL or with a negative interval: %w", store.ErrInvalid)
	}
	if src.Created.IsZero() {
		src.Created = s.now()
	}
	src.Created = micro(src.Created)
	src.Interval = src.Interval.Truncate(time.Second)
	err := s.pool.QueryRow(ctx, `INSERT INTO fetch_sources (account_id, url, password, delete_after, interval, created)
		SELECT id, $2, $3, $4, $5, $6 FROM accounts WHERE id = $1 RETURNING id, (SELECT address FROM accounts WHERE id = $1)`,
		src.AccountID, src.URL, src.Password, src.Delete, int64(src.Interval/time.Second), src.Created).Scan(&src.ID, &src.Account)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.FetchSource{}, notFound("account %d", src.AccountID)
	} else if err != nil {
		return store.FetchSource{}, temporary("adding fetch source", err)
	}
	src.LastRun, src.LastError, src.Fetched, src.Failures = time.Time{}, "", 0, 0
	return src, nil
}

const fetchSourceColumns = `f.id, f.account_id, a.address, f.url, f.password, f.delete_after, f.interval,
	f.created, f.last_run, f.last_error, f.fetched, f.failures
	FROM fetch_sources f JOIN accounts a ON a.id = f.account_id`

// FetchSource looks a fetch source up by id.
func (s *Store) FetchSource(ctx context.Context, id int64) (store.FetchSource, error) {
	srcs, err := s.queryFetchSources(ctx, `SELECT `+fetchSourceColumns+` WHERE f.id = $1`, id)
	if err != nil {
		return store.FetchSource{}, err
	}
	if len(srcs) == 0 {
		return store.FetchSource{}, notFound("fetch source %d", id)
	}
	return srcs[0], nil
}

// ListFetchSources lists the fetch sources of an account, or all.
func (s *Store) ListFetchSources(ctx context.Context, accountID int64) ([]store.FetchSource, error) {
	return s.queryFetchSources(ctx, `SELECT `+fetchSourceColumns+` WHERE $1 = 0 OR f.account_id = $1 ORDER BY f.id`, accountID)
}

func (s *Store) queryFetchSources(ctx context.Context, q string, args ...any) ([]store.FetchSource, error) {
	rows, _ := s.pool.Query(ctx, q, args...)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.FetchSource, error) {
		var f store.FetchSource
		var interval int64
		var lastRun *time.Time
		err := r.Scan(&f.ID, &f.AccountID, &f.Account, &f.URL, &f.Password, &f.Delete, &interval,
			&f.Created, &lastRun, &f.LastError, &f.Fetched, &f.Failures)
		f.Interval = time.Duration(interval) * time.Second
		if lastRun != nil {
			f.LastRun = *lastRun
		}
		return f, err
	})
	if err != nil {
		return nil, temporary("reading fetch sources", err)
	}
	return out, nil
}

// DeleteFetchSource removes a fetch source and (by cascade) its ids.
func (s *Store) DeleteFetchSource(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM fetch_sources WHERE id = $1`, id)
	if err != nil {
		return temporary("deleting fetch source", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("fetch source %d", id)
	}
	return nil
}

// RecordFetchRun stores the outcome of a run.
func (s *Store) RecordFetchRun(ctx context.Context, id int64, r store.FetchRun) error {
	if r.At.IsZero() {
		r.At = s.now()
	}
	tag, err := s.pool.Exec(ctx, `UPDATE fetch_sources SET last_run = $1, last_error = $2,
		fetched = fetched + $3, failures = CASE WHEN $2 = '' THEN 0 ELSE failures + 1 END WHERE id = $4`,
		r.At, r.Error, r.Fetched, id)
	if err != nil {
		return temporary("recording fetch run", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("fetch source %d", id)
	}
	return nil
}

// FetchedIDs returns the ids a source has fetched within a scope.
func (s *Store) FetchedIDs(ctx context.Context, sourceID int64, scope string) ([]store.FetchedID, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, fingerprint FROM fetch_seen
		WHERE source_id = $1 AND scope = $2 ORDER BY id COLLATE "C"`, sourceID, scope)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.FetchedID, error) {
		f := store.FetchedID{Scope: scope}
		err := r.Scan(&f.ID, &f.Fingerprint)
		return f, err
	})
	if err != nil {
		return nil, temporary("reading fetched ids", err)
	}
	return out, nil
}

// AddFetchedIDs records ids without a delivery, in one statement.
func (s *Store) AddFetchedIDs(ctx context.Context, sourceID int64, ids []store.FetchedID) error {
	if len(ids) == 0 {
		return nil
	}
	scopes := make([]string, len(ids))
	names := make([]string, len(ids))
	prints := make([]string, len(ids))
	for i, f := range ids {
		scopes[i], names[i], prints[i] = f.Scope, f.ID, f.Fingerprint
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO fetch_seen (source_id, scope, id, fingerprint)
		SELECT $1, u.scope, u.id, u.fp FROM unnest($2::text[], $3::text[], $4::text[]) AS u(scope, id, fp)
		ON CONFLICT DO NOTHING`, sourceID, scopes, names, prints)
	if isForeignKeyViolation(err) {
		return notFound("fetch source %d", sourceID)
	} else if err != nil {
		return temporary("recording fetched ids", err)
	}
	return nil
}

// ForgetFetchedIDs removes recorded ids of a scope.
func (s *Store) ForgetFetchedIDs(ctx context.Context, sourceID int64, scope string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM fetch_seen WHERE source_id = $1 AND scope = $2 AND id = ANY($3)`,
		sourceID, scope, ids); err != nil {
		return temporary("forgetting fetched ids", err)
	}
	return nil
}
