package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddAlias adds targets to an alias of a local domain.
func (s *Store) AddAlias(ctx context.Context, address string, targets []string) error {
	addr, domain, clean, err := store.CheckAlias(address, targets)
	if err != nil {
		return err
	}
	defer s.cache.invalidate(aliasKey(addr))
	return s.withTx(ctx, "adding alias", func(t *tx) error {
		var domainID int64
		var isAccount bool
		err := t.QueryRow(ctx, `SELECT id, EXISTS (SELECT 1 FROM accounts WHERE address = $1)
			FROM domains WHERE name = $2 FOR KEY SHARE`, addr, domain).Scan(&domainID, &isAccount)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notFound("domain %q", domain)
		case err != nil:
			return temporary("adding alias", err)
		case isAccount:
			return fmt.Errorf("postgres: %q is an account: %w", addr, store.ErrExists)
		}
		if _, err := t.Exec(ctx, `INSERT INTO aliases (domain_id, address, target)
			SELECT $1, $2, unnest($3::text[]) ON CONFLICT DO NOTHING`, domainID, addr, clean); err != nil {
			return temporary("adding alias", err)
		}
		return nil
	})
}

// DeleteAlias removes some targets of an alias, or all of it.
func (s *Store) DeleteAlias(ctx context.Context, address string, targets []string) error {
	addr := strings.ToLower(address)
	lower := make([]string, len(targets))
	for i, t := range targets {
		lower[i] = strings.ToLower(t)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM aliases WHERE address = $1 AND (cardinality($2::text[]) = 0 OR target = ANY($2))`,
		addr, lower)
	s.cache.invalidate(aliasKey(addr))
	if err != nil {
		return temporary("deleting alias", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("alias %q", addr)
	}
	return nil
}

// Alias returns an alias and its targets (sorted), from the node's cache
// when it has them (cache.go).
func (s *Store) Alias(ctx context.Context, address string) (store.Alias, error) {
	lower := strings.ToLower(address)
	missing := func() error { return notFound("alias %q", address) }
	a, err := cached(s.cache, aliasKey(lower), func() (store.Alias, error) {
		as, err := s.queryAliases(ctx, `SELECT address, target FROM aliases WHERE address = $1 ORDER BY target`, lower)
		if err != nil {
			return store.Alias{}, err
		}
		if len(as) == 0 {
			return store.Alias{}, missing()
		}
		return as[0], nil
	}, missing)
	a.Targets = slices.Clone(a.Targets) // the cache's copy stays as it is
	return a, err
}

// ListAliases lists the aliases of a domain, or all.
func (s *Store) ListAliases(ctx context.Context, domain string) ([]store.Alias, error) {
	return s.queryAliases(ctx, `SELECT a.address, a.target FROM aliases a JOIN domains d ON d.id = a.domain_id
		WHERE $1 = '' OR d.name = $1 ORDER BY a.address, a.target`, strings.ToLower(domain))
}

// queryAliases groups (address, target) rows ordered by address.
func (s *Store) queryAliases(ctx context.Context, q string, args ...any) ([]store.Alias, error) {
	rows, _ := s.pool.Query(ctx, q, args...)
	var out []store.Alias
	var addr, target string
	_, err := pgx.ForEachRow(rows, []any{&addr, &target}, func() error {
		if n := len(out); n == 0 || out[n-1].Address != addr {
			out = append(out, store.Alias{Address: addr})
		}
		out[len(out)-1].Targets = append(out[len(out)-1].Targets, target)
		return nil
	})
	if err != nil {
		return nil, temporary("reading aliases", err)
	}
	return out, nil
}
