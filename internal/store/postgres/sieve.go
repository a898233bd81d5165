package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pochta-mail/pochta/internal/store"
)

func checkScriptName(name string) error {
	if !store.ValidSieveScriptName(name) {
		return fmt.Errorf("postgres: script name %q: %w", name, store.ErrInvalid)
	}
	return nil
}

// accountMissing turns a foreign-key failure into ErrNotFound.
func accountMissing(what string, accountID int64, err error) error {
	if isForeignKeyViolation(err) {
		return notFound("account %d", accountID)
	}
	return dbError(what, err)
}

// PutSieveScript creates or replaces a script, keeping its active state.
func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name, source string) error {
	if err := checkScriptName(name); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sieve_scripts (account_id, name, source, updated) VALUES ($1, $2, $3, $4)
		ON CONFLICT (account_id, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
		accountID, name, source, s.now())
	s.scriptsChanged(accountID)
	if err != nil {
		return accountMissing("storing script", accountID, err)
	}
	return nil
}

const scriptColumns = `name, active, source, octet_length(source), updated FROM sieve_scripts`

func scanScript(row pgx.Row) (store.SieveScript, error) {
	var sc store.SieveScript
	err := row.Scan(&sc.Name, &sc.Active, &sc.Source, &sc.Size, &sc.Updated)
	return sc, err
}

func (s *Store) oneScript(ctx context.Context, what, cond string, args ...any) (store.SieveScript, error) {
	sc, err := scanScript(s.pool.QueryRow(ctx, `SELECT `+scriptColumns+` WHERE `+cond, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return sc, notFound("%s", what)
	} else if err != nil {
		return sc, temporary("reading script", err)
	}
	return sc, nil
}

// SieveScript returns one script with its source.
func (s *Store) SieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error) {
	return s.oneScript(ctx, "script "+name, `account_id = $1 AND name = $2`, accountID, name)
}

// ActiveSieveScript returns the account's active script, from the node's
// cache when it has it (cache.go): every delivery asks.
func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	return cached(s.cache, scriptKey(accountID), func() (store.SieveScript, error) {
		return s.oneScript(ctx, "active script", `account_id = $1 AND active`, accountID)
	}, func() error { return notFound("active script") })
}

// SieveScripts lists the account's scripts without their sources.
func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, active, '', octet_length(source), updated
		FROM sieve_scripts WHERE account_id = $1 ORDER BY name`, accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.SieveScript, error) { return scanScript(r) })
	if err != nil {
		return nil, temporary("listing scripts", err)
	}
	return out, nil
}

// ActivateSieveScript makes name the only active script ("" = none).
func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	defer s.scriptsChanged(accountID)
	return s.withTx(ctx, "activating script", func(t *tx) error {
		if _, err := t.Exec(ctx, `UPDATE sieve_scripts SET active = false WHERE account_id = $1 AND active`,
			accountID); err != nil {
			return temporary("activating script", err)
		}
		if name == "" {
			return nil
		}
		return changedOne(t.Exec(ctx, `UPDATE sieve_scripts SET active = true WHERE account_id = $1 AND name = $2`,
			accountID, name))("activating script", name)
	})
}

// DeleteSieveScript removes a script that is not active.
func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	defer s.scriptsChanged(accountID)
	return s.withTx(ctx, "deleting script", func(t *tx) error {
		var active bool
		err := t.QueryRow(ctx, `SELECT active FROM sieve_scripts WHERE account_id = $1 AND name = $2 FOR UPDATE`,
			accountID, name).Scan(&active)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notFound("script %q", name)
		case err != nil:
			return temporary("deleting script", err)
		case active:
			return fmt.Errorf("postgres: script %q is active: %w", name, store.ErrInvalid)
		}
		return changedOne(t.Exec(ctx, `DELETE FROM sieve_scripts WHERE account_id = $1 AND name = $2`,
			accountID, name))("deleting script", name)
	})
}

// RenameSieveScript renames a script, keeping its active state.
func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, from, to string) error {
	if err := checkScriptName(to); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE sieve_scripts SET name = $1 WHERE account_id = $2 AND name = $3`,
		to, accountID, from)
	s.scriptsChanged(accountID)
	if err != nil {
		return dbError("renaming script", err)
	}
	return changedOne(tag, nil)("renaming script", from)
}

// changedOne turns an Exec result into ErrNotFound when no row changed.
func changedOne(tag pgconn.CommandTag, err error) func(what, name string) error {
	return func(what, name string) error {
		if err != nil {
			return temporary(what, err)
		}
		if tag.RowsAffected() == 0 {
			return notFound("script %q", name)
		}
		return nil
	}
}

// ClaimVacationReply records a reply unless an unexpired one is on
// record, in one statement: the row lock of the ON CONFLICT decides
// between two nodes claiming at once.
func (s *Store) ClaimVacationReply(ctx context.Context, accountID int64, key string, now, until time.Time) (bool, error) {
	var claimed bool
	err := s.withTx(ctx, "recording vacation reply", func(t *tx) error {
		if _, err := t.Exec(ctx, `DELETE FROM vacation_replies WHERE account_id = $1 AND until <= $2`,
			accountID, now); err != nil {
			return temporary("recording vacation reply", err)
		}
		tag, err := t.Exec(ctx, `INSERT INTO vacation_replies (account_id, key, until) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, key) DO UPDATE SET until = excluded.until WHERE vacation_replies.until <= $4`,
			accountID, key, until, now)
		if err != nil {
			return accountMissing("recording vacation reply", accountID, err)
		}
		claimed = tag.RowsAffected() == 1
		return nil
	})
	return claimed, err
}

// SeenDuplicate reports whether key is on record, unexpired.
func (s *Store) SeenDuplicate(ctx context.Context, accountID int64, key string, now time.Time) (bool, error) {
	var seen bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sieve_duplicates
		WHERE account_id = $1 AND key = $2 AND until > $3)`, accountID, key, now).Scan(&seen)
	if err != nil {
		return false, temporary("reading duplicate ids", err)
	}
	return seen, nil
}

// RecordDuplicate records key, forgets the account's expired keys and
// keeps the keep that expire last.
func (s *Store) RecordDuplicate(ctx context.Context, accountID int64, key string, now, until time.Time, refresh bool, keep int) error {
	return s.withTx(ctx, "recording duplicate id", func(t *tx) error {
		return recordDuplicate(ctx, t, store.DuplicateRecord{AccountID: accountID, Key: key, Now: now, Until: until,
			Refresh: refresh, Keep: keep})
	})
}

// recordDuplicate is RecordDuplicate within t (also a delivery's).
func recordDuplicate(ctx context.Context, t *tx, d store.DuplicateRecord) error {
	if _, err := t.Exec(ctx, `DELETE FROM sieve_duplicates WHERE account_id = $1 AND until <= $2`,
		d.AccountID, d.Now); err != nil {
		return temporary("recording duplicate id", err)
	}
	tag, err := t.Exec(ctx, `INSERT INTO sieve_duplicates (account_id, key, until) VALUES ($1, $2, $3)
		ON CONFLICT (account_id, key) DO UPDATE SET until = excluded.until WHERE $4`,
		d.AccountID, d.Key, d.Until, d.Refresh)
	if err != nil {
		return accountMissing("recording duplicate id", d.AccountID, err)
	}
	if tag.RowsAffected() == 0 {
		return nil // on record already: nothing grew
	}
	if _, err := t.Exec(ctx, `DELETE FROM sieve_duplicates WHERE account_id = $1 AND key IN (
		SELECT key FROM sieve_duplicates WHERE account_id = $1 ORDER BY until DESC, key OFFSET $2)`,
		d.AccountID, max(d.Keep, 1)); err != nil {
		return temporary("recording duplicate id", err)
	}
	return nil
}

// scriptsChanged drops from this node's cache what a change of the
// account's scripts made outdated: its active script, and the account
// (Account.SieveVersion). The other nodes hear it from the triggers.
func (s *Store) scriptsChanged(accountID int64) {
	s.cache.invalidate(scriptKey(accountID))
	s.cache.accountChanged(accountID)
}
