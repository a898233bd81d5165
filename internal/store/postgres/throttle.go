package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// CountLoginFailures adds a failure to each key's counter, all nodes
// together, and returns the counts (auth.SharedThrottle). A counter that
// expired starts again at 1.
func (s *Store) CountLoginFailures(ctx context.Context, keys []string, now time.Time, forget time.Duration) ([]int, error) {
	rows, _ := s.pool.Query(ctx, `INSERT INTO login_failures AS f (key, count, expires)
		SELECT k, 1, $2 FROM unnest($1::text[]) AS k
		ON CONFLICT (key) DO UPDATE SET expires = excluded.expires,
			count = CASE WHEN f.expires <= $3 THEN 1 ELSE f.count + 1 END
		RETURNING count`, keys, now.Add(forget), now)
	counts, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return nil, temporary("counting failed logins", err)
	}
	return counts, nil
}

// ResetLoginFailures forgets a key's counter.
func (s *Store) ResetLoginFailures(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return temporary("resetting failed logins", err)
	}
	return nil
}

// LastPOP3Login returns the account's last POP3 login on any node (zero:
// none recorded), for LOGIN-DELAY (pop3.SharedLoginTimes).
func (s *Store) LastPOP3Login(ctx context.Context, accountID int64) (time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT last_pop3_login FROM accounts WHERE id = $1`, accountID).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, notFound("account %d", accountID)
	} else if err != nil {
		return time.Time{}, temporary("reading last login", err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return *at, nil
}

// RecordPOP3Login records a POP3 login unless a later one is on record.
func (s *Store) RecordPOP3Login(ctx context.Context, accountID int64, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `UPDATE accounts SET last_pop3_login = greatest(last_pop3_login, $1) WHERE id = $2`,
		at, accountID); err != nil {
		return temporary("recording login", err)
	}
	return nil
}

// ClaimJob reports whether this node should run the cluster-wide job name
// now: true, and the job counts as run, unless some node claimed it less
// than every ago. Every node schedules its sweeps (POP3 EXPIRE, orphan
// bodies); ClaimJob makes each run once per cluster.
func (s *Store) ClaimJob(ctx context.Context, name string, every time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO cluster_jobs AS j (name, last_run) VALUES ($1, now())
		ON CONFLICT (name) DO UPDATE SET last_run = now() WHERE j.last_run <= now() - make_interval(secs => $2)`,
		name, every.Seconds())
	if err != nil {
		return false, temporary("claiming job "+name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// sweepLoginFailures removes expired counters (they read as 0 anyway).
func (s *Store) sweepLoginFailures(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE expires < now()`); err != nil {
		s.log.Warn("sweeping failed-login counters", "err", err)
	}
}
