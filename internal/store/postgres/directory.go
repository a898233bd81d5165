package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// AddDomain adds a mail domain; a duplicate is store.ErrExists.
func (s *Store) AddDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	if !store.ValidDomain(name) {
		return fmt.Errorf("postgres: domain %q: %w", name, store.ErrInvalid)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO domains (name, created) VALUES ($1, $2)`, name, s.now())
	s.cache.invalidate(domainKey(name))
	if err != nil {
		return dbError("adding domain", err)
	}
	return nil
}

// DeleteDomain removes a domain that has no accounts or aliases left.
func (s *Store) DeleteDomain(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	defer s.cache.invalidate(domainKey(name))
	return s.withTx(ctx, "deleting domain", func(t *tx) error {
		var id int64
		var used bool
		err := t.QueryRow(ctx, `SELECT id, EXISTS (SELECT 1 FROM accounts WHERE domain_id = domains.id)
			OR EXISTS (SELECT 1 FROM aliases WHERE domain_id = domains.id)
			FROM domains WHERE name = $1 FOR UPDATE`, name).Scan(&id, &used)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return notFound("domain %q", name)
		case err != nil:
			return temporary("deleting domain", err)
		case used:
			return fmt.Errorf("postgres: domain %q still has accounts or aliases: %w", name, store.ErrExists)
		}
		if _, err := t.Exec(ctx, `DELETE FROM domains WHERE id = $1`, id); err != nil {
			if isForeignKeyViolation(err) { // an account or alias added meanwhile
				return fmt.Errorf("postgres: domain %q still has accounts or aliases: %w", name, store.ErrExists)
			}
			return temporary("deleting domain", err)
		}
		return nil
	})
}

// Domains lists the domains by name.
func (s *Store) Domains(ctx context.Context) ([]store.Domain, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, created FROM domains ORDER BY name`)
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Domain, error) {
		var d store.Domain
		err := r.Scan(&d.Name, &d.Created)
		return d, err
	})
	if err != nil {
		return nil, temporary("listing domains", err)
	}
	return ds, nil
}

// Domain looks one domain up, in the node's cache first (cache.go).
func (s *Store) Domain(ctx context.Context, name string) (store.Domain, error) {
	lower := strings.ToLower(name)
	missing := func() error { return notFound("domain %q", name) }
	return cached(s.cache, domainKey(lower), func() (store.Domain, error) {
		d := store.Domain{Name: lower}
		err := s.pool.QueryRow(ctx, `SELECT created FROM domains WHERE name = $1`, d.Name).Scan(&d.Created)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Domain{}, missing()
		} else if err != nil {
			return store.Domain{}, temporary("looking up domain", err)
		}
		return d, nil
	}, missing)
}

// CreateAccount creates an account with INBOX and the default folders in
// one transaction.
func (s *Store) CreateAccount(ctx context.Context, address string, c store.Credentials) (store.Account, error) {
	addr, domain, err := store.SplitAddress(address)
	if err != nil {
		return store.Account{}, err
	}
	now := micro(s.now())
	a := store.Account{Address: addr, Domain: domain, Credentials: c, SieveVersion: 1, Created: now}
	defer s.cache.invalidate(accountKey(addr))
	err = s.withTx(ctx, "creating account", func(t *tx) error {
		var domainID int64
		err := t.QueryRow(ctx, `SELECT id FROM domains WHERE name = $1 FOR KEY SHARE`, domain).Scan(&domainID)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("domain %q", domain)
		} else if err != nil {
			return temporary("creating account", err)
		}
		err = t.QueryRow(ctx, `INSERT INTO accounts
			(domain_id, address, password_hash, scram_sha256, legacy_secret, created)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			domainID, addr, c.PasswordHash, c.SCRAMSHA256, c.LegacySecret, now).Scan(&a.ID)
		if err != nil {
			return dbError("creating account", err)
		}
		// A fresh UIDVALIDITY: a re-created account of the same address
		// must not repeat the old one's UIDs and UIDLs.
		validity, err := s.nextUIDValidity(ctx, t)
		if err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES ($1, 'INBOX', $2)`,
			a.ID, validity); err != nil {
			return dbError("creating INBOX", err)
		}
		for _, f := range store.DefaultFolders() {
			if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
				VALUES ($1, $2, $3, $4)`, a.ID, f.Name, validity, f.SpecialUse); err != nil {
				return dbError("creating "+f.Name, err)
			}
		}
		// INBOX and the default folders start subscribed.
		if _, err := t.Exec(ctx, `INSERT INTO subscriptions (account_id, name)
			SELECT account_id, name FROM mailboxes WHERE account_id = $1`, a.ID); err != nil {
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
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1, scram_sha256 = $2, legacy_secret = $3
		WHERE address = $4`, c.PasswordHash, c.SCRAMSHA256, c.LegacySecret, strings.ToLower(address))
	s.cache.invalidate(accountKey(strings.ToLower(address)))
	if err != nil {
		return temporary("setting credentials", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("account %q", address)
	}
	return nil
}

// SetQuota sets an account's quota in octets; 0 removes it.
func (s *Store) SetQuota(ctx context.Context, address string, octets int64) error {
	if octets < 0 {
		return fmt.Errorf("postgres: quota %d: %w", octets, store.ErrInvalid)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE accounts SET quota = $1 WHERE address = $2`, octets, strings.ToLower(address))
	s.cache.invalidate(accountKey(strings.ToLower(address)))
	if err != nil {
		return temporary("setting quota", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("account %q", address)
	}
	return nil
}

// DeleteAccount removes the account with everything it owns, and the
// bodies no other account shares.
func (s *Store) DeleteAccount(ctx context.Context, address string) error {
	address = strings.ToLower(address)
	var id int64
	defer func() {
		s.cache.invalidate(scriptKey(id))
		s.cache.invalidate(accountKey(address))
	}()
	return s.withTx(ctx, "deleting account", func(t *tx) error {
		err := t.QueryRow(ctx, `SELECT id FROM accounts WHERE address = $1 FOR UPDATE`, address).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("account %q", address)
		} else if err != nil {
			return temporary("deleting account", err)
		}
		rows, _ := t.Query(ctx, `DELETE FROM messages WHERE account_id = $1 RETURNING body_id`, id)
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return temporary("deleting account", err)
		}
		for _, q := range []string{
			`DELETE FROM mailboxes WHERE account_id = $1`,
			`DELETE FROM subscriptions WHERE account_id = $1`,
			`DELETE FROM sieve_scripts WHERE account_id = $1`,
			`DELETE FROM vacation_replies WHERE account_id = $1`,
			`DELETE FROM sieve_duplicates WHERE account_id = $1`,
			`DELETE FROM sent_recipients WHERE account_id = $1`,
			`DELETE FROM maildrop_locks WHERE account_id = $1`,
			`DELETE FROM fetch_sources WHERE account_id = $1`,
			`DELETE FROM text_postings WHERE account_id = $1`,
			`DELETE FROM text_docs WHERE account_id = $1`,
			`DELETE FROM text_accounts WHERE account_id = $1`,
			`DELETE FROM accounts WHERE id = $1`,
		} {
			if _, err := t.Exec(ctx, q, id); err != nil {
				return temporary("deleting account", err)
			}
		}
		return deleteUnreferenced(ctx, t, bodies)
	})
}

const accountColumns = `a.id, a.address, d.name, a.password_hash, a.scram_sha256, a.legacy_secret, a.created,
	a.quota, a.used, a.last_login, a.sieve_version FROM accounts a JOIN domains d ON d.id = a.domain_id`

func scanAccount(row pgx.Row) (store.Account, error) {
	var a store.Account
	var lastLogin *time.Time
	err := row.Scan(&a.ID, &a.Address, &a.Domain, &a.Credentials.PasswordHash,
		&a.Credentials.SCRAMSHA256, &a.Credentials.LegacySecret, &a.Created, &a.Quota, &a.Used, &lastLogin, &a.SieveVersion)
	if lastLogin != nil {
		a.LastLogin = *lastLogin
	}
	return a, err
}

// RecordLogins stores the last login times of accounts in one statement.
func (s *Store) RecordLogins(ctx context.Context, logins map[string]time.Time) error {
	if len(logins) == 0 {
		return nil
	}
	addrs := make([]string, 0, len(logins))
	times := make([]time.Time, 0, len(logins))
	for a, at := range logins {
		addrs = append(addrs, strings.ToLower(a))
		times = append(times, at)
	}
	_, err := s.pool.Exec(ctx, `UPDATE accounts a SET last_login = greatest(a.last_login, l.at)
		FROM unnest($1::text[], $2::timestamptz[]) AS l(address, at) WHERE a.address = l.address`, addrs, times)
	for _, a := range addrs {
		s.cache.invalidate(accountKey(a))
	}
	if err != nil {
		return temporary("recording logins", err)
	}
	return nil
}

// Account looks an account up by address, case-insensitively, in the
// node's cache first (cache.go).
func (s *Store) Account(ctx context.Context, address string) (store.Account, error) {
	lower := strings.ToLower(address)
	missing := func() error { return notFound("account %q", address) }
	return cached(s.cache, accountKey(lower), func() (store.Account, error) {
		a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` WHERE a.address = $1`, lower))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.Account{}, missing()
		} else if err != nil {
			return store.Account{}, temporary("looking up account", err)
		}
		return a, nil
	}, missing)
}

// Accounts lists the accounts of one domain, or of all when domain is "".
func (s *Store) Accounts(ctx context.Context, domain string) ([]store.Account, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+accountColumns+` WHERE $1 = '' OR d.name = $1 ORDER BY a.address`,
		strings.ToLower(domain))
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, temporary("listing accounts", err)
	}
	return as, nil
}
