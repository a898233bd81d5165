package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

const mailboxFields = `id, account_id, name, uidvalidity, uidnext, special_use,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
	modseq, recent_uid`

const mailboxColumns = mailboxFields + ` FROM mailboxes`

func scanMailbox(row pgx.Row) (store.Mailbox, error) {
	var m store.Mailbox
	err := row.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.SpecialUse, &m.Subscribed, &m.ModSeq, &m.RecentUID)
	return m, err
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// mailboxWhere reads one mailbox; lock appends FOR UPDATE (inside a
// transaction: the row is the mailbox's UID and mod-sequence counter).
func mailboxWhere(ctx context.Context, q querier, what, cond string, args ...any) (store.Mailbox, error) {
	m, err := scanMailbox(q.QueryRow(ctx, `SELECT `+mailboxColumns+` WHERE `+cond, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, notFound("mailbox %s", what)
	} else if err != nil {
		return m, temporary("looking up mailbox", err)
	}
	return m, nil
}

func mailboxByName(ctx context.Context, q querier, accountID int64, name string) (store.Mailbox, error) {
	return mailboxWhere(ctx, q, fmt.Sprintf("%q", name), `account_id = $1 AND name = $2`, accountID, name)
}

func mailboxByID(ctx context.Context, q querier, id int64) (store.Mailbox, error) {
	return mailboxWhere(ctx, q, fmt.Sprint(id), `id = $1`, id)
}

// ListMailboxes returns the account's mailboxes ordered by name.
func (s *Store) ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+mailboxColumns+` WHERE account_id = $1 ORDER BY name COLLATE "C"`, accountID)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Mailbox, error) { return scanMailbox(r) })
	if err != nil {
		return nil, temporary("listing mailboxes", err)
	}
	return out, nil
}

// GetMailbox looks a mailbox up by name.
func (s *Store) GetMailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	return mailboxByName(ctx, s.pool, accountID, store.CanonicalMailboxName(name))
}

// CreateMailbox creates a mailbox and its missing parents.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error) {
	name, err := store.CheckMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var m store.Mailbox
	err = s.withTx(ctx, "creating mailbox", func(t *tx) error {
		if err := s.insertMailbox(ctx, t, accountID, name, specialUse, 0); err != nil {
			return err
		}
		if m, err = mailboxByName(ctx, t, accountID, name); err != nil {
			return err
		}
		t.event(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: m.ID})
		return nil
	})
	return m, err
}

// insertMailbox creates name and its missing parents within t; validity
// 0 allocates a new UIDVALIDITY. An existing name is store.ErrExists, a
// missing account store.ErrNotFound.
func (s *Store) insertMailbox(ctx context.Context, t *tx, accountID int64, name, specialUse string, validity uint32) error {
	if err := s.createParents(ctx, t, accountID, name); err != nil {
		return err
	}
	if validity == 0 {
		var err error
		if validity, err = s.nextUIDValidity(ctx, t); err != nil {
			return err
		}
	}
	if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
		VALUES ($1, $2, $3, $4)`, accountID, name, validity, specialUse); err != nil {
		if isForeignKeyViolation(err) {
			return notFound("account %d", accountID)
		}
		return dbError("creating mailbox", err)
	}
	return nil
}

// nextUIDValidity hands out a UIDVALIDITY for a new mailbox: the clock's
// seconds, but always above every value handed out before, so a mailbox
// deleted and created again gets a new one however fast (RFC 9051
// 2.3.1.1), and a re-created account never repeats its predecessor's
// POP3 UIDLs. The row lock serialises nodes.
func (s *Store) nextUIDValidity(ctx context.Context, t *tx) (uint32, error) {
	var v int64
	err := t.QueryRow(ctx, `UPDATE uidvalidity_seq SET last = greatest(last + 1, $1) RETURNING last`,
		s.now().Unix()).Scan(&v)
	if err != nil {
		return 0, temporary("allocating UIDVALIDITY", err)
	}
	return uint32(v), nil
}

// createParents creates the missing superior levels of name (RFC 9051
// 6.3.4).
func (s *Store) createParents(ctx context.Context, t *tx, accountID int64, name string) error {
	for i := range len(name) {
		if name[i] != store.Delimiter {
			continue
		}
		var exists bool
		if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND name = $2)`,
			accountID, name[:i]).Scan(&exists); err != nil {
			return temporary("creating parent mailbox", err)
		}
		if exists {
			continue
		}
		validity, err := s.nextUIDValidity(ctx, t)
		if err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, accountID, name[:i], validity); err != nil {
			if isForeignKeyViolation(err) {
				return notFound("account %d", accountID)
			}
			return dbError("creating parent mailbox", err)
		}
	}
	return nil
}

// childCondition matches the children of $n (a prefix comparison, so "_"
// and "%" in names match only themselves).
func childCondition(n int) string {
	return fmt.Sprintf(`left(name, length($%d) + 1) = $%d || '/'`, n, n)
}

// DeleteMailbox deletes a mailbox without children, and its messages.
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name = store.CanonicalMailboxName(name)
	if name == store.InboxName {
		return fmt.Errorf("postgres: INBOX cannot be deleted: %w", store.ErrInvalid)
	}
	return s.withTx(ctx, "deleting mailbox", func(t *tx) error {
		m, err := mailboxWhere(ctx, t, fmt.Sprintf("%q", name), `account_id = $1 AND name = $2 FOR UPDATE`, accountID, name)
		if err != nil {
			return err
		}
		var children bool
		if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = $1 AND `+childCondition(2)+`)`,
			accountID, name).Scan(&children); err != nil {
			return temporary("deleting mailbox", err)
		}
		if children {
			return fmt.Errorf("postgres: mailbox %q has children: %w", name, store.ErrExists)
		}
		rows, _ := t.Query(ctx, `DELETE FROM messages WHERE mailbox_id = $1 RETURNING body_id`, m.ID)
		bodies, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return temporary("deleting mailbox", err)
		}
		if _, err := t.Exec(ctx, `DELETE FROM mailboxes WHERE id = $1`, m.ID); err != nil {
			return temporary("deleting mailbox", err)
		}
		t.event(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: m.ID})
		return deleteUnreferenced(ctx, t, bodies)
	})
}

// RenameMailbox renames a mailbox and its children; INBOX is special.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from = store.CanonicalMailboxName(from)
	to, err := store.CheckMailboxName(to)
	if err != nil {
		return err
	}
	if to == from || strings.HasPrefix(to, from+string(store.Delimiter)) {
		return fmt.Errorf("postgres: cannot rename %q to %q: %w", from, to, store.ErrInvalid)
	}
	return s.withTx(ctx, "renaming mailbox", func(t *tx) error {
		old, err := mailboxWhere(ctx, t, fmt.Sprintf("%q", from), `account_id = $1 AND name = $2 FOR UPDATE`, accountID, from)
		if err != nil {
			return err
		}
		if _, err := mailboxByName(ctx, t, accountID, to); err == nil {
			return fmt.Errorf("postgres: mailbox %q: %w", to, store.ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.createParents(ctx, t, accountID, to); err != nil {
			return err
		}
		if from == store.InboxName {
			return s.renameInbox(ctx, t, old, to)
		}
		if _, err := t.Exec(ctx, `UPDATE mailboxes SET name = $1 || substr(name, length($2) + 1), modseq = modseq + 1
			WHERE account_id = $3 AND (name = $2 OR `+childCondition(2)+`)`, to, from, accountID); err != nil {
			return dbError("renaming mailbox", err)
		}
		t.event(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: old.ID})
		return nil
	})
}

// renameInbox moves every INBOX message into a new mailbox named to; INBOX
// stays, empty, with its children (RFC 9051 6.3.6). The messages keep
// their UIDs: the new mailbox has a new UIDVALIDITY and INBOX's UIDNEXT.
func (s *Store) renameInbox(ctx context.Context, t *tx, inbox store.Mailbox, to string) error {
	validity, err := s.nextUIDValidity(ctx, t)
	if err != nil {
		return err
	}
	// An UPDATE of messages fires no trigger, so this does what the
	// triggers would: INBOX's mod-sequence moves on, every moved UID
	// leaves a tombstone there (QRESYNC), and the new mailbox starts at
	// that mod-sequence, above every message it receives.
	var modseq int64
	if err := t.QueryRow(ctx, `UPDATE mailboxes SET modseq = modseq + 1 WHERE id = $1 RETURNING modseq`,
		inbox.ID).Scan(&modseq); err != nil {
		return temporary("renaming INBOX", err)
	}
	tag, err := t.Exec(ctx, `INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $2 FROM messages
		WHERE mailbox_id = $1 ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq`, inbox.ID, modseq)
	if err != nil {
		return temporary("renaming INBOX", err)
	}
	if _, err := t.Exec(ctx, `UPDATE mailboxes SET tombstones = tombstones + $2 WHERE id = $1`,
		inbox.ID, tag.RowsAffected()); err != nil {
		return temporary("renaming INBOX", err)
	}
	var id int64
	if err := t.QueryRow(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext, modseq)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, inbox.AccountID, to, validity, inbox.UIDNext, modseq).Scan(&id); err != nil {
		return dbError("renaming INBOX", err)
	}
	if _, err := t.Exec(ctx, `UPDATE messages SET mailbox_id = $1 WHERE mailbox_id = $2`, id, inbox.ID); err != nil {
		return temporary("renaming INBOX", err)
	}
	if _, err := t.Exec(ctx, `SELECT prune_expunged($1)`, inbox.ID); err != nil {
		return temporary("renaming INBOX", err)
	}
	t.event(store.Event{Kind: store.EventMailboxes, AccountID: inbox.AccountID, MailboxID: inbox.ID})
	t.event(store.Event{Kind: store.EventMailboxes, AccountID: inbox.AccountID, MailboxID: id})
	return nil
}

// SetSubscribed adds a name to the subscriptions or removes it, whether
// or not the mailbox exists.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	name = store.CanonicalMailboxName(name)
	if subscribed && !store.ValidMailboxName(name) {
		return fmt.Errorf("postgres: mailbox name %q: %w", name, store.ErrInvalid)
	}
	q := `DELETE FROM subscriptions WHERE account_id = $1 AND name = $2`
	if subscribed {
		q = `INSERT INTO subscriptions (account_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	}
	if _, err := s.pool.Exec(ctx, q, accountID, name); err != nil {
		if isForeignKeyViolation(err) {
			return notFound("account %d", accountID)
		}
		return temporary("subscribing", err)
	}
	return nil
}

// Subscriptions lists the subscribed names.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name FROM subscriptions WHERE account_id = $1 ORDER BY name COLLATE "C"`, accountID)
	names, err := scanStrings(rows)
	if err != nil {
		return nil, temporary("listing subscriptions", err)
	}
	return names, nil
}

// ClaimRecent moves recent_uid up to UIDNEXT-1 under the mailbox's row
// lock, so two sessions on any nodes never claim the same message.
// Nothing to claim costs one read.
func (s *Store) ClaimRecent(ctx context.Context, mailboxID int64) (after, upTo uint32, err error) {
	var recent, next uint32
	err = s.pool.QueryRow(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1`, mailboxID).Scan(&recent, &next)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, notFound("mailbox %d", mailboxID)
	} else if err != nil {
		return 0, 0, temporary("reading recent", err)
	}
	if recent >= next-1 {
		return recent, recent, nil
	}
	err = s.withTx(ctx, "claiming recent", func(t *tx) error {
		err := t.QueryRow(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1 FOR UPDATE`, mailboxID).Scan(&recent, &next)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("mailbox %d", mailboxID)
		} else if err != nil {
			return temporary("claiming recent", err)
		}
		if recent >= next-1 {
			return nil
		}
		if _, err := t.Exec(ctx, `UPDATE mailboxes SET recent_uid = $1 WHERE id = $2`, next-1, mailboxID); err != nil {
			return temporary("claiming recent", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return recent, max(recent, next-1), nil
}

// MailboxStatus reads the mailbox, then counts its messages in one pass.
func (s *Store) MailboxStatus(ctx context.Context, mailboxID int64) (store.MailboxStatus, error) {
	var st store.MailboxStatus
	m, err := mailboxByID(ctx, s.pool, mailboxID)
	if err != nil {
		return st, err
	}
	st.Mailbox = m
	err = s.pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(size), 0),
		count(*) FILTER (WHERE strpos(' ' || flags || ' ', ' \Seen ') = 0),
		count(*) FILTER (WHERE strpos(' ' || flags || ' ', ' \Deleted ') > 0),
		count(*) FILTER (WHERE uid > $1)
		FROM messages WHERE mailbox_id = $2`, m.RecentUID, mailboxID).Scan(&st.Messages, &st.Size, &st.Unseen, &st.Deleted, &st.Recent)
	if err != nil {
		return st, temporary("mailbox status", err)
	}
	return st, nil
}

// MailboxModSeq reads one mailbox's mod-sequence.
func (s *Store) MailboxModSeq(ctx context.Context, mailboxID int64) (uint64, error) {
	var n uint64
	err := s.pool.QueryRow(ctx, `SELECT modseq FROM mailboxes WHERE id = $1`, mailboxID).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, notFound("mailbox %d", mailboxID)
	} else if err != nil {
		return 0, temporary("reading mod-sequence", err)
	}
	return n, nil
}
