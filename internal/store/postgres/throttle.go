package postgres

import (
	"context"
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

// sweepLoginFailures removes expired counters (they read as 0 anyway).
func (s *Store) sweepLoginFailures(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE expires < now()`); err != nil {
		s.log.Warn("sweeping failed-login counters", "err", err)
	}
}
