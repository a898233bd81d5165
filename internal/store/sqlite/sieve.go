package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func checkScriptName(name string) error {
	if !store.ValidSieveScriptName(name) {
		return fmt.Errorf("sqlite: script name %q: %w", name, store.ErrInvalid)
	}
	return nil
}

// accountMissing turns a foreign-key failure into ErrNotFound.
func accountMissing(what string, accountID int64, err error) error {
	if isForeignKeyViolation(err) {
		return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
	}
	return dbError(what, err)
}

// PutSieveScript creates or replaces a script, keeping its active state.
func (s *Store) PutSieveScript(ctx context.Context, accountID int64, name, source string) error {
	if err := checkScriptName(name); err != nil {
		return err
	}
	return s.withTx(ctx, "storing script", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sieve_scripts (account_id, name, source, updated) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, name) DO UPDATE SET source = excluded.source, updated = excluded.updated`,
			accountID, name, source, toDB(s.now()))
		if err != nil {
			return accountMissing("storing script", accountID, err)
		}
		return nil
	})
}

const scriptColumns = `name, active, source, length(CAST(source AS BLOB)), updated FROM sieve_scripts`

func scanScript(row interface{ Scan(...any) error }) (store.SieveScript, error) {
	var sc store.SieveScript
	var updated int64
	err := row.Scan(&sc.Name, &sc.Active, &sc.Source, &sc.Size, &updated)
	sc.Updated = fromDB(updated)
	return sc, err
}

func (s *Store) oneScript(ctx context.Context, what, cond string, args ...any) (store.SieveScript, error) {
	sc, err := scanScript(s.queryRow(ctx, `SELECT `+scriptColumns+` WHERE `+cond, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return sc, fmt.Errorf("sqlite: %s: %w", what, store.ErrNotFound)
	} else if err != nil {
		return sc, temporary("reading script", err)
	}
	return sc, nil
}

// SieveScript returns one script with its source.
func (s *Store) SieveScript(ctx context.Context, accountID int64, name string) (store.SieveScript, error) {
	return s.oneScript(ctx, "script "+name, `account_id = ? AND name = ?`, accountID, name)
}

// ActiveSieveScript returns the account's active script.
func (s *Store) ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error) {
	return s.oneScript(ctx, "active script", `account_id = ? AND active = 1`, accountID)
}

// SieveScripts lists the account's scripts without their sources.
func (s *Store) SieveScripts(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT name, active, '', length(CAST(source AS BLOB)), updated
		FROM sieve_scripts WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, temporary("listing scripts", err)
	}
	defer rows.Close()
	var out []store.SieveScript
	for rows.Next() {
		sc, err := scanScript(rows)
		if err != nil {
			return nil, temporary("listing scripts", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing scripts", err)
	}
	return out, nil
}

// ActivateSieveScript makes name the only active script ("" = none).
func (s *Store) ActivateSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.withTx(ctx, "activating script", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 0 WHERE account_id = ? AND active = 1`,
			accountID); err != nil {
			return temporary("activating script", err)
		}
		if name == "" {
			return nil
		}
		return changedOne(tx.ExecContext(ctx, `UPDATE sieve_scripts SET active = 1 WHERE account_id = ? AND name = ?`,
			accountID, name))("activating script", name)
	})
}

// DeleteSieveScript removes a script that is not active.
func (s *Store) DeleteSieveScript(ctx context.Context, accountID int64, name string) error {
	return s.withTx(ctx, "deleting script", func(tx *sql.Tx) error {
		var active bool
		err := tx.QueryRowContext(ctx, `SELECT active FROM sieve_scripts WHERE account_id = ? AND name = ?`,
			accountID, name).Scan(&active)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: script %q: %w", name, store.ErrNotFound)
		case err != nil:
			return temporary("deleting script", err)
		case active:
			return fmt.Errorf("sqlite: script %q is active: %w", name, store.ErrInvalid)
		}
		return changedOne(tx.ExecContext(ctx, `DELETE FROM sieve_scripts WHERE account_id = ? AND name = ?`,
			accountID, name))("deleting script", name)
	})
}

// RenameSieveScript renames a script, keeping its active state.
func (s *Store) RenameSieveScript(ctx context.Context, accountID int64, from, to string) error {
	if err := checkScriptName(to); err != nil {
		return err
	}
	return s.withTx(ctx, "renaming script", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sieve_scripts SET name = ? WHERE account_id = ? AND name = ?`,
			to, accountID, from)
		if err != nil {
			return dbError("renaming script", err)
		}
		return changedOne(res, nil)("renaming script", from)
	})
}

// changedOne turns an Exec result into ErrNotFound when no row changed.
func changedOne(res sql.Result, err error) func(what, name string) error {
	return func(what, name string) error {
		if err != nil {
			return temporary(what, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return temporary(what, err)
		} else if n == 0 {
			return fmt.Errorf("sqlite: script %q: %w", name, store.ErrNotFound)
		}
		return nil
	}
}

// ClaimVacationReply records a reply unless an unexpired one is on record,
// and forgets the account's expired ones on the way.
func (s *Store) ClaimVacationReply(ctx context.Context, accountID int64, key string, now, until time.Time) (bool, error) {
	var claimed bool
	err := s.withTx(ctx, "recording vacation reply", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM vacation_replies WHERE account_id = ? AND until <= ?`,
			accountID, toDB(now)); err != nil {
			return temporary("recording vacation reply", err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO vacation_replies (account_id, key, until) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING`, accountID, key, toDB(until))
		if err != nil {
			return accountMissing("recording vacation reply", accountID, err)
		}
		n, err := res.RowsAffected()
		claimed = n == 1
		return err
	})
	return claimed, err
}

// SeenDuplicate reports whether key is on record, unexpired.
func (s *Store) SeenDuplicate(ctx context.Context, accountID int64, key string, now time.Time) (bool, error) {
	var seen bool
	err := s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sieve_duplicates
		WHERE account_id = ? AND key = ? AND until > ?)`, accountID, key, toDB(now)).Scan(&seen)
	if err != nil {
		return false, temporary("reading duplicate ids", err)
	}
	return seen, nil
}

// RecordDuplicate records key, forgets the account's expired keys and
// keeps the keep that expire last.
func (s *Store) RecordDuplicate(ctx context.Context, accountID int64, key string, now, until time.Time, refresh bool, keep int) error {
	return s.withTx(ctx, "recording duplicate id", func(tx *sql.Tx) error {
		return recordDuplicate(ctx, tx, store.DuplicateRecord{AccountID: accountID, Key: key, Now: now, Until: until,
			Refresh: refresh, Keep: keep})
	})
}

// recordDuplicate is RecordDuplicate within tx (also a delivery's).
func recordDuplicate(ctx context.Context, tx *sql.Tx, d store.DuplicateRecord) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM sieve_duplicates WHERE account_id = ? AND until <= ?`,
		d.AccountID, toDB(d.Now)); err != nil {
		return temporary("recording duplicate id", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO sieve_duplicates (account_id, key, until) VALUES (?, ?, ?)
		ON CONFLICT (account_id, key) DO UPDATE SET until = excluded.until WHERE ?`,
		d.AccountID, d.Key, toDB(d.Until), d.Refresh)
	if err != nil {
		return accountMissing("recording duplicate id", d.AccountID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil // on record already: nothing grew
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM sieve_duplicates WHERE account_id = ? AND key IN (
		SELECT key FROM sieve_duplicates WHERE account_id = ? ORDER BY until DESC, key LIMIT -1 OFFSET ?)`,
		d.AccountID, d.AccountID, max(d.Keep, 1))
	if err != nil {
		return temporary("recording duplicate id", err)
	}
	return nil
}
