package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddAlias adds targets to an alias of a local domain.
func (s *Store) AddAlias(ctx context.Context, address string, targets []string) error {
	addr, domain, clean, err := store.CheckAlias(address, targets)
	if err != nil {
		return err
	}
	return s.withTx(ctx, "adding alias", func(tx *sql.Tx) error {
		var domainID int64
		var isAccount bool
		err := tx.QueryRowContext(ctx, `SELECT id, EXISTS (SELECT 1 FROM accounts WHERE address = ?)
			FROM domains WHERE name = ?`, addr, domain).Scan(&domainID, &isAccount)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: domain %q: %w", domain, store.ErrNotFound)
		case err != nil:
			return temporary("adding alias", err)
		case isAccount:
			return fmt.Errorf("sqlite: %q is an account: %w", addr, store.ErrExists)
		}
		for _, t := range clean {
			if _, err := tx.ExecContext(ctx, `INSERT INTO aliases (domain_id, address, target) VALUES (?, ?, ?)
				ON CONFLICT DO NOTHING`, domainID, addr, t); err != nil {
				return temporary("adding alias", err)
			}
		}
		return nil
	})
}

// DeleteAlias removes some targets of an alias, or all of it.
func (s *Store) DeleteAlias(ctx context.Context, address string, targets []string) error {
	addr := strings.ToLower(address)
	return s.withTx(ctx, "deleting alias", func(tx *sql.Tx) error {
		var removed int64
		del := func(q string, args ...any) error {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return temporary("deleting alias", err)
			}
			n, err := res.RowsAffected()
			removed += n
			return err
		}
		if len(targets) == 0 {
			if err := del(`DELETE FROM aliases WHERE address = ?`, addr); err != nil {
				return err
			}
		}
		for _, t := range targets {
			if err := del(`DELETE FROM aliases WHERE address = ? AND target = ?`, addr, strings.ToLower(t)); err != nil {
				return err
			}
		}
		if removed == 0 {
			return fmt.Errorf("sqlite: alias %q: %w", addr, store.ErrNotFound)
		}
		return nil
	})
}

// Alias returns an alias and its targets (sorted).
func (s *Store) Alias(ctx context.Context, address string) (store.Alias, error) {
	as, err := s.queryAliases(ctx, `SELECT address, target FROM aliases WHERE address = ? ORDER BY target`,
		strings.ToLower(address))
	if err != nil {
		return store.Alias{}, err
	}
	if len(as) == 0 {
		return store.Alias{}, fmt.Errorf("sqlite: alias %q: %w", address, store.ErrNotFound)
	}
	return as[0], nil
}

// ListAliases lists the aliases of a domain, or all.
func (s *Store) ListAliases(ctx context.Context, domain string) ([]store.Alias, error) {
	domain = strings.ToLower(domain)
	return s.queryAliases(ctx, `SELECT a.address, a.target FROM aliases a JOIN domains d ON d.id = a.domain_id
		WHERE ?1 = '' OR d.name = ?1 ORDER BY a.address, a.target`, domain)
}

// queryAliases groups (address, target) rows ordered by address.
func (s *Store) queryAliases(ctx context.Context, q string, args ...any) ([]store.Alias, error) {
	rows, err := s.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, temporary("reading aliases", err)
	}
	defer rows.Close()
	var out []store.Alias
	for rows.Next() {
		var addr, target string
		if err := rows.Scan(&addr, &target); err != nil {
			return nil, temporary("reading aliases", err)
		}
		if n := len(out); n == 0 || out[n-1].Address != addr {
			out = append(out, store.Alias{Address: addr})
		}
		out[len(out)-1].Targets = append(out[len(out)-1].Targets, target)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("reading aliases", err)
	}
	return out, nil
}
