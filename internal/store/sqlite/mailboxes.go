package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// createDefaultFolders adds the special-use folders of a new account.
func createDefaultFolders(ctx context.Context, tx *sql.Tx, accountID int64, validity uint32) error {
	for _, f := range store.DefaultFolders() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
			VALUES (?, ?, ?, ?)`, accountID, f.Name, validity, f.SpecialUse); err != nil {
			return dbError("creating "+f.Name, err)
		}
	}
	return nil
}

const mailboxColumns = `id, account_id, name, uidvalidity, uidnext, special_use,
	EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = mailboxes.account_id AND s.name = mailboxes.name),
	modseq, recent_uid FROM mailboxes`

func scanMailbox(row interface{ Scan(...any) error }) (store.Mailbox, error) {
	var m store.Mailbox
	err := row.Scan(&m.ID, &m.AccountID, &m.Name, &m.UIDValidity, &m.UIDNext, &m.SpecialUse, &m.Subscribed, &m.ModSeq, &m.RecentUID)
	return m, err
}

// ListMailboxes returns the account's mailboxes ordered by name.
func (s *Store) ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+mailboxColumns+` WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, temporary("listing mailboxes", err)
	}
	defer rows.Close()
	var out []store.Mailbox
	for rows.Next() {
		m, err := scanMailbox(rows)
		if err != nil {
			return nil, temporary("listing mailboxes", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing mailboxes", err)
	}
	return out, nil
}

// GetMailbox looks a mailbox up by name.
func (s *Store) GetMailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error) {
	return getMailbox(ctx, storeRower{s}, accountID, store.CanonicalMailboxName(name))
}

// storeRower runs one-row queries through the statement cache.
type storeRower struct{ s *Store }

func (r storeRower) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return r.s.queryRow(ctx, query, args...)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getMailbox(ctx context.Context, db queryRower, accountID int64, name string) (store.Mailbox, error) {
	m, err := scanMailbox(db.QueryRowContext(ctx, `SELECT `+mailboxColumns+` WHERE account_id = ? AND name = ?`,
		accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("sqlite: mailbox %q: %w", name, store.ErrNotFound)
	} else if err != nil {
		return m, temporary("looking up mailbox", err)
	}
	return m, nil
}

// CreateMailbox creates a mailbox and its missing parents.
func (s *Store) CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (store.Mailbox, error) {
	name, err := store.CheckMailboxName(name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var m store.Mailbox
	err = s.withTx(ctx, "creating mailbox", func(tx *sql.Tx) error {
		if err := s.createParents(ctx, tx, accountID, name); err != nil {
			return err
		}
		validity, err := s.nextUIDValidity(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
			VALUES (?, ?, ?, ?)`, accountID, name, validity, specialUse); err != nil {
			if isForeignKeyViolation(err) {
				return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
			}
			return dbError("creating mailbox", err)
		}
		m, err = getMailbox(ctx, tx, accountID, name)
		return err
	})
	if err == nil {
		s.events.Publish(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: m.ID})
	}
	return m, err
}

// nextUIDValidity hands out a UIDVALIDITY for new mailboxes: the clock's
// seconds, but always above every value handed out before, so a mailbox
// deleted and created again gets a new one however fast (RFC 9051
// 2.3.1.1), and an account re-created under the same address never repeats
// its predecessor's POP3 UIDLs (they are built from INBOX's UIDVALIDITY).
func (s *Store) nextUIDValidity(ctx context.Context, tx *sql.Tx) (uint32, error) {
	var v int64
	err := tx.QueryRowContext(ctx, `UPDATE uidvalidity_seq SET last = max(last + 1, ?) RETURNING last`,
		s.now().Unix()).Scan(&v)
	if err != nil {
		return 0, dbError("allocating UIDVALIDITY", err)
	}
	return uint32(v), nil
}

// createParents creates the missing superior levels of name (RFC 9051
// 6.3.4: "the server SHOULD create any superior hierarchical names").
func (s *Store) createParents(ctx context.Context, tx *sql.Tx, accountID int64, name string) error {
	for i := range len(name) {
		if name[i] != store.Delimiter {
			continue
		}
		validity, err := s.nextUIDValidity(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity)
			VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, accountID, name[:i], validity); err != nil {
			return dbError("creating parent mailbox", err)
		}
	}
	return nil
}

// childPattern is a SQL condition matching the children of ?name (given
// twice): comparing a prefix rather than LIKE, so "_" and "%" in names
// match only themselves.
const childCondition = `substr(name, 1, length(?) + 1) = ? || '/'`

// DeleteMailbox deletes a mailbox without children, and its messages.
func (s *Store) DeleteMailbox(ctx context.Context, accountID int64, name string) error {
	name = store.CanonicalMailboxName(name)
	if name == store.InboxName {
		return fmt.Errorf("sqlite: INBOX cannot be deleted: %w", store.ErrInvalid)
	}
	var unreferenced []string
	var id int64
	err := s.withTx(ctx, "deleting mailbox", func(tx *sql.Tx) error {
		m, err := getMailbox(ctx, tx, accountID, name)
		if err != nil {
			return err
		}
		id = m.ID
		var children bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM mailboxes WHERE account_id = ? AND `+childCondition+`)`,
			accountID, name, name).Scan(&children); err != nil {
			return temporary("deleting mailbox", err)
		}
		if children {
			return fmt.Errorf("sqlite: mailbox %q has children: %w", name, store.ErrExists)
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? RETURNING body`, m.ID)
		if err != nil {
			return temporary("deleting mailbox", err)
		}
		bodies, err := scanStrings(rows)
		if err != nil {
			return temporary("deleting mailbox", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM mailboxes WHERE id = ?`, m.ID); err != nil {
			return temporary("deleting mailbox", err)
		}
		unreferenced, err = s.unreferencedBodies(ctx, tx, bodies)
		return err
	})
	if err != nil {
		return err
	}
	s.removeBodies(unreferenced)
	s.events.Publish(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: id})
	return nil
}

// RenameMailbox renames a mailbox and its children; INBOX is special.
func (s *Store) RenameMailbox(ctx context.Context, accountID int64, from, to string) error {
	from = store.CanonicalMailboxName(from)
	to, err := store.CheckMailboxName(to)
	if err != nil {
		return err
	}
	if to == from || strings.HasPrefix(to, from+string(store.Delimiter)) {
		return fmt.Errorf("sqlite: cannot rename %q to %q: %w", from, to, store.ErrInvalid)
	}
	var changed []int64
	err = s.withTx(ctx, "renaming mailbox", func(tx *sql.Tx) error {
		old, err := getMailbox(ctx, tx, accountID, from)
		if err != nil {
			return err
		}
		if _, err := getMailbox(ctx, tx, accountID, to); err == nil {
			return fmt.Errorf("sqlite: mailbox %q: %w", to, store.ErrExists)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := s.createParents(ctx, tx, accountID, to); err != nil {
			return err
		}
		if from == store.InboxName {
			changed, err = s.renameInbox(ctx, tx, old, to)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET name = ? || substr(name, length(?) + 1), modseq = modseq + 1
			WHERE account_id = ? AND (name = ? OR `+childCondition+`)`, to, from, accountID, from, from, from); err != nil {
			return dbError("renaming mailbox", err)
		}
		changed = []int64{old.ID}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range changed {
		s.events.Publish(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: id})
	}
	return nil
}

// renameInbox moves every INBOX message into a new mailbox named to; INBOX
// stays, empty, with its children (RFC 9051 6.3.6). The messages keep
// their UIDs: the new mailbox has a new UIDVALIDITY and INBOX's UIDNEXT.
func (s *Store) renameInbox(ctx context.Context, tx *sql.Tx, inbox store.Mailbox, to string) ([]int64, error) {
	validity, err := s.nextUIDValidity(ctx, tx)
	if err != nil {
		return nil, err
	}
	// An UPDATE of messages fires no trigger, so this does what the
	// triggers would: INBOX's mod-sequence moves on, so its watchers look
	// and find their messages gone, and every moved UID leaves a
	// tombstone there (QRESYNC); the new mailbox starts at that
	// mod-sequence, above every message it receives.
	// (inbox was read in this transaction: its ModSeq is current. The
	// tombstones go in before the count moves, which may prune them.)
	modseq := inbox.ModSeq + 1
	res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)
		SELECT ?, uid, ? FROM messages WHERE mailbox_id = ?`, inbox.ID, modseq, inbox.ID)
	if err != nil {
		return nil, temporary("renaming INBOX", err)
	}
	moved, err := res.RowsAffected()
	if err != nil {
		return nil, temporary("renaming INBOX", err)
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, uidnext, modseq)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, inbox.AccountID, to, validity, inbox.UIDNext, modseq).Scan(&id); err != nil {
		return nil, dbError("renaming INBOX", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET mailbox_id = ? WHERE mailbox_id = ?`, id, inbox.ID); err != nil {
		return nil, temporary("renaming INBOX", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET modseq = ?, tombstones = tombstones + ? WHERE id = ?`,
		modseq, moved, inbox.ID); err != nil {
		return nil, temporary("renaming INBOX", err)
	}
	return []int64{inbox.ID, id}, nil
}

// SetSubscribed adds a name to the subscriptions or removes it, whether
// or not the mailbox exists.
func (s *Store) SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error {
	name = store.CanonicalMailboxName(name)
	if subscribed && !store.ValidMailboxName(name) {
		return fmt.Errorf("sqlite: mailbox name %q: %w", name, store.ErrInvalid)
	}
	q := `DELETE FROM subscriptions WHERE account_id = ? AND name = ?`
	if subscribed {
		q = `INSERT INTO subscriptions (account_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING`
	}
	if _, err := s.writer.ExecContext(ctx, q, accountID, name); err != nil {
		if isForeignKeyViolation(err) {
			return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
		}
		return temporary("subscribing", err)
	}
	return nil
}

// Subscriptions lists the subscribed names.
func (s *Store) Subscriptions(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT name FROM subscriptions WHERE account_id = ? ORDER BY name`, accountID)
	if err != nil {
		return nil, temporary("listing subscriptions", err)
	}
	names, err := scanStrings(rows)
	if err != nil {
		return nil, temporary("listing subscriptions", err)
	}
	return names, nil
}

// ClaimRecent moves recent_uid up to UIDNEXT-1 in one write transaction,
// so two sessions never claim the same message. Nothing to claim costs
// one read.
func (s *Store) ClaimRecent(ctx context.Context, mailboxID int64) (after, upTo uint32, err error) {
	var recent, next uint32
	err = s.queryRow(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?`, mailboxID).Scan(&recent, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return 0, 0, temporary("reading recent", err)
	}
	if recent >= next-1 {
		return recent, recent, nil
	}
	err = s.withTx(ctx, "claiming recent", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT recent_uid, uidnext FROM mailboxes WHERE id = ?`, mailboxID).Scan(&recent, &next)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
		} else if err != nil {
			return temporary("claiming recent", err)
		}
		if recent >= next-1 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET recent_uid = ? WHERE id = ?`, next-1, mailboxID); err != nil {
			return temporary("claiming recent", err)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return recent, max(recent, next-1), nil
}

// MailboxStatus counts a mailbox's messages in one pass.
func (s *Store) MailboxStatus(ctx context.Context, mailboxID int64) (store.MailboxStatus, error) {
	var st store.MailboxStatus
	m, err := scanMailbox(s.reader.QueryRowContext(ctx, `SELECT `+mailboxColumns+` WHERE id = ?`, mailboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return st, temporary("mailbox status", err)
	}
	st.Mailbox = m
	err = s.reader.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0),
		coalesce(sum(instr(' ' || flags || ' ', ' \Seen ') = 0), 0),
		coalesce(sum(instr(' ' || flags || ' ', ' \Deleted ') > 0), 0),
		coalesce(sum(uid > ?), 0)
		FROM messages WHERE mailbox_id = ?`, m.RecentUID, mailboxID).Scan(&st.Messages, &st.Size, &st.Unseen, &st.Deleted, &st.Recent)
	if err != nil {
		return st, temporary("mailbox status", err)
	}
	return st, nil
}

// MailboxModSeq reads one mailbox's mod-sequence.
func (s *Store) MailboxModSeq(ctx context.Context, mailboxID int64) (uint64, error) {
	var n uint64
	err := s.queryRow(ctx, `SELECT modseq FROM mailboxes WHERE id = ?`, mailboxID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return 0, temporary("reading mod-sequence", err)
	}
	return n, nil
}
