package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddDomain adds a mail domain; a duplicate is store.ErrExists.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	if !store.ValidDomain(name) {
		return fmt.Errorf("sqlite: domain %q: %w", name, store.ErrInvalid)
	}
	_, err := s.writer.ExecContext(ctx,
		`INSERT INTO domains (name, created) VALUES (?, ?)`, name, toDB(s.now()))
	if err != nil {
		return dbError("adding domain", err)
	}
	return nil
}

// DeleteDomain removes a domain that has no accounts left.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	return s.withTx(ctx, "deleting domain", func(tx *sql.Tx) error {
		var id int64
		var accounts bool
		err := tx.QueryRowContext(ctx, `SELECT id, EXISTS (SELECT 1 FROM accounts WHERE domain_id = domains.id)
			OR EXISTS (SELECT 1 FROM aliases WHERE domain_id = domains.id)
			FROM domains WHERE name = ?`, name).Scan(&id, &accounts)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: domain %q: %w", name, store.ErrNotFound)
		case err != nil:
			return temporary("deleting domain", err)
		case accounts:
			return fmt.Errorf("sqlite: domain %q still has accounts or aliases: %w", name, store.ErrExists)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM domains WHERE id = ?`, id); err != nil {
			return temporary("deleting domain", err)
		}
		return nil
	})
}

// Domains lists the domains by name.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT name, created FROM domains ORDER BY name`)
	if err != nil {
		return nil, temporary("listing domains", err)
	}
	defer rows.Close()
	var ds []store.Domain
	for rows.Next() {
		var d store.Domain
		var created int64
		if err := rows.Scan(&d.Name, &created); err != nil {
			return nil, temporary("listing domains", err)
		}
		d.Created = fromDB(created)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing domains", err)
	}
	return ds, nil
}

// Domain looks one domain up.
func (s *Store) Domain(ctx context.Context, name string) (store.Domain, error) {
	d := store.Domain{Name: strings.ToLower(name)}
	var created int64
	err := s.lookups.domain.QueryRowContext(ctx, d.Name).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Domain{}, fmt.Errorf("sqlite: domain %q: %w", name, store.ErrNotFound)
	} else if err != nil {
		return store.Domain{}, temporary("looking up domain", err)
	}
	d.Created = fromDB(created)
	return d, nil
}

// CreateAccount creates an account and its INBOX in one transaction.
func (s *Store) CreateAccount(ctx context.Context, address string, c store.Credentials) (store.Account, error) {
	addr, domain, err := store.SplitAddress(address)
	if err != nil {
		return store.Account{}, err
	}
	now := s.now()
	a := store.Account{Address: addr, Domain: domain, Credentials: c, SieveVersion: 1, Created: fromDB(toDB(now))}
	err = s.withTx(ctx, "creating account", func(tx *sql.Tx) error {
		var domainID int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM domains WHERE name = ?`, domain).Scan(&domainID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: domain %q: %w", domain, store.ErrNotFound)
		} else if err != nil {
			return temporary("creating account", err)
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO accounts
			(domain_id, address, password_hash, scram_sha256, legacy_secret, created)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
			domainID, addr, c.PasswordHash, c.SCRAMSHA256, c.LegacySecret, toDB(now)).Scan(&a.ID)
		if err != nil {
			return dbError("creating account", err)
		}
		// A fresh UIDVALIDITY: a re-created account of the same address
		// must not repeat the old one's UIDs and UIDLs.
		validity, err := s.nextUIDValidity(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
			VALUES (?, 'INBOX', ?, '')`, a.ID, validity)
		if err != nil {
			return dbError("creating INBOX", err)
		}
		if err := createDefaultFolders(ctx, tx, a.ID, validity); err != nil {
			return err
		}
		// INBOX and the default folders start subscribed.
		_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (account_id, name)
			SELECT account_id, name FROM mailboxes WHERE account_id = ?`, a.ID)
		if err != nil {
			return dbError("subscribing", err)
		}
		return nil
	})
	if err != nil {
		return store.Account{}, err
	}
	return a, nil
}

// SetCredentials replaces an account's credentials.
func (s *Store) SetCredentials(ctx context.Context, address string, c store.Credentials) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE accounts
		SET password_hash = ?, scram_sha256 = ?, legacy_secret = ? WHERE address = ?`,
		c.PasswordHash, c.SCRAMSHA256, c.LegacySecret, strings.ToLower(address))
	if err != nil {
		return temporary("setting credentials", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: account %q: %w", address, store.ErrNotFound)
	}
	return nil
}

// SetQuota sets an account's quota in octets; 0 removes it.
func (s *Store) SetQuota(ctx context.Context, address string, octets int64) error {
	if octets < 0 {
		return fmt.Errorf("sqlite: quota %d: %w", octets, store.ErrInvalid)
	}
	res, err := s.writer.ExecContext(ctx, `UPDATE accounts SET quota = ? WHERE address = ?`,
		octets, strings.ToLower(address))
	if err != nil {
		return temporary("setting quota", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlite: account %q: %w", address, store.ErrNotFound)
	}
	return nil
}

// DeleteAccount removes the account, its mailboxes and messages, and the
// body files no other account shares (after the commit).
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	address = strings.ToLower(address)
	var unreferenced []string
	err := s.withFreeingTx(ctx, "deleting account", func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE address = ?`, address).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: account %q: %w", address, store.ErrNotFound)
		} else if err != nil {
			return temporary("deleting account", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT body FROM messages WHERE account_id = ?`, id)
		if err != nil {
			return temporary("deleting account", err)
		}
		bodies, err := scanStrings(rows)
		if err != nil {
			return temporary("deleting account", err)
		}
		for _, q := range []string{
			`DELETE FROM messages WHERE account_id = ?`,
			`DELETE FROM mailboxes WHERE account_id = ?`,
			`DELETE FROM subscriptions WHERE account_id = ?`,
			`DELETE FROM sieve_scripts WHERE account_id = ?`,
			`DELETE FROM vacation_replies WHERE account_id = ?`,
			`DELETE FROM sieve_duplicates WHERE account_id = ?`,
			`DELETE FROM sent_recipients WHERE account_id = ?`,
			`DELETE FROM fetch_seen WHERE source_id IN (SELECT id FROM fetch_sources WHERE account_id = ?)`,
			`DELETE FROM fetch_sources WHERE account_id = ?`,
			`DELETE FROM text_retry WHERE account_id = ?`,
			`DELETE FROM accounts WHERE id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return temporary("deleting account", err)
			}
		}
		// Bodies only this account referenced became garbage.
		unreferenced, err = s.unreferencedBodies(ctx, tx, bodies)
		return err
	})
	if err != nil {
		return err
	}
	s.removeBodies(unreferenced)
	s.ensureReserve()
	return nil
}

const accountColumns = `a.id, a.address, d.name, a.password_hash, a.scram_sha256, a.legacy_secret, a.created,
	a.quota, a.used, a.last_login, a.sieve_version FROM accounts a JOIN domains d ON d.id = a.domain_id`

func scanAccount(row interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created, lastLogin int64
	err := row.Scan(&a.ID, &a.Address, &a.Domain, &a.Credentials.PasswordHash,
		&a.Credentials.SCRAMSHA256, &a.Credentials.LegacySecret, &created, &a.Quota, &a.Used, &lastLogin, &a.SieveVersion)
	a.Created = fromDB(created)
	if lastLogin != 0 {
		a.LastLogin = fromDB(lastLogin)
	}
	return a, err
}

// RecordLogins stores the last login times of accounts, in one
// transaction.
func (s *Store) RecordLogins(ctx context.Context, logins map[string]time.Time) error {
	if len(logins) == 0 {
		return nil
	}
	return s.withTx(ctx, "recording logins", func(tx *sql.Tx) error {
		for addr, at := range logins {
			if _, err := tx.ExecContext(ctx, `UPDATE accounts SET last_login = max(last_login, ?) WHERE address = ?`,
				toDB(at), strings.ToLower(addr)); err != nil {
				return temporary("recording logins", err)
			}
		}
		return nil
	})
}

// Account looks an account up by address, case-insensitively.
func (s *Store) Account(ctx context.Context, address string) (store.Account, error) {
	a, err := scanAccount(s.lookups.account.QueryRowContext(ctx, strings.ToLower(address)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Account{}, fmt.Errorf("sqlite: account %q: %w", address, store.ErrNotFound)
	} else if err != nil {
		return store.Account{}, temporary("looking up account", err)
	}
	return a, nil
}

// Accounts lists the accounts of one domain, or of all when domain is "",
// ordered by address.
func (s *Store) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+accountColumns+`
		WHERE ? = '' OR d.name = ? ORDER BY a.address`, strings.ToLower(domain), strings.ToLower(domain))
	if err != nil {
		return nil, temporary("listing accounts", err)
	}
	defer rows.Close()
	var as []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, temporary("listing accounts", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing accounts", err)
	}
	return as, nil
}

// scanStrings reads one string column from rows and closes them.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
