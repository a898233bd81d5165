package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// ImportMailbox finds or creates a mailbox for an import and gives it the
// source's UIDVALIDITY and UIDNEXT where that cannot confuse a client: the
// mailbox is new, or has never held a message.
func (s *Store) ImportMailbox(ctx context.Context, accountID int64, im store.ImportMailbox) (store.Mailbox, error) {
	name, err := store.CheckMailboxName(im.Name)
	if err != nil {
		return store.Mailbox{}, err
	}
	var m store.Mailbox
	err = s.withTx(ctx, "importing mailbox", func(tx *sql.Tx) error {
		m, err = getMailbox(ctx, tx, accountID, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := s.createParents(ctx, tx, accountID, name); err != nil {
				return err
			}
			validity := im.UIDValidity
			if validity == 0 {
				if validity, err = s.nextUIDValidity(ctx, tx); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
				VALUES (?, ?, ?, ?)`, accountID, name, validity, im.SpecialUse); err != nil {
				if isForeignKeyViolation(err) {
					return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
				}
				return dbError("importing mailbox", err)
			}
		case err != nil:
			return err
		default:
			if im.UIDValidity != 0 && m.UIDNext == 1 && m.UIDValidity != im.UIDValidity {
				if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidvalidity = ?, modseq = modseq + 1 WHERE id = ?`,
					im.UIDValidity, m.ID); err != nil {
					return temporary("importing mailbox", err)
				}
			}
			if m.SpecialUse == "" && im.SpecialUse != "" {
				if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET special_use = ? WHERE id = ?`,
					im.SpecialUse, m.ID); err != nil {
					return temporary("importing mailbox", err)
				}
			}
		}
		if im.UIDValidity != 0 {
			// Keep the UIDVALIDITY sequence above the source's values
			// (when they are plausible clock values), so a mailbox created
			// later never repeats one (see migration 6).
			if _, err := tx.ExecContext(ctx, `UPDATE uidvalidity_seq SET last = ?1 WHERE last < ?1 AND ?1 <= ?2`,
				im.UIDValidity, s.now().Unix()); err != nil {
				return temporary("importing mailbox", err)
			}
			if im.UIDNext > 1 {
				if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = max(uidnext, ?)
					WHERE account_id = ? AND name = ? AND uidvalidity = ?`,
					im.UIDNext, accountID, name, im.UIDValidity); err != nil {
					return temporary("importing mailbox", err)
				}
			}
			if im.ModSeq > 0 {
				if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET modseq = max(modseq, ?1),
					expunged_floor = max(expunged_floor, ?1) WHERE account_id = ?2 AND name = ?3 AND uidvalidity = ?4`,
					int64(im.ModSeq), accountID, name, im.UIDValidity); err != nil {
					return temporary("importing mailbox", err)
				}
			}
		}
		m, err = getMailbox(ctx, tx, accountID, name)
		return err
	})
	if err != nil {
		return store.Mailbox{}, err
	}
	s.events.Publish(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: m.ID})
	return m, nil
}

// ImportMessages writes the bodies of the messages not imported before
// (each file fsynced, then their directories), then adds every row in one
// transaction: the same durability order as Deliver.
func (s *Store) ImportMessages(ctx context.Context, mailboxID int64, msgs []store.ImportMessage) ([]store.ImportedMessage, error) {
	if err := store.CheckImport(msgs); err != nil {
		return nil, err
	}
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = m.Key
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	known, err := s.knownKeys(ctx, mailboxID, keys)
	if err != nil {
		return nil, err
	}
	if err := s.checkReserve(); err != nil {
		return nil, err
	}
	res := make([]store.ImportedMessage, len(msgs))
	bodies := make([]*storedBody, len(msgs))
	var files []string // body files written, removed unless committed
	committed := map[string]bool{}
	defer func() {
		for _, b := range bodies {
			if b != nil {
				s.releaseBody(b.inline)
			}
		}
		var garbage []string
		for _, f := range files {
			if !committed[f] {
				garbage = append(garbage, f)
			}
		}
		s.removeBodies(garbage)
	}()
	seen := map[string]bool{}
	dirs := map[string]bool{}
	for i, m := range msgs {
		if uid, ok := known[m.Key]; ok || seen[m.Key] {
			res[i] = store.ImportedMessage{Skipped: true, UID: uid}
			continue
		}
		seen[m.Key] = true
		rc, err := m.Open()
		if err != nil {
			res[i].Err = err
			continue
		}
		b, err := s.writeBody(rc, false)
		rc.Close()
		if err != nil {
			var re store.ReadError
			if errors.As(err, &re) {
				res[i].Err = err
				continue
			}
			return nil, err
		}
		bodies[i] = &b
		if b.inline == nil {
			files = append(files, b.name)
			dirs[filepath.Dir(s.bodyPath(b.name))] = true
		}
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			return nil, temporary("syncing message directory", err)
		}
	}
	added := 0
	var accountID int64
	err = s.withTx(ctx, "importing messages", func(tx *sql.Tx) error {
		mb, err := mailboxByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		added, accountID = 0, mb.AccountID
		for i, m := range msgs {
			b := bodies[i]
			if b == nil {
				continue
			}
			r, err := s.importOne(ctx, tx, mb, m, b)
			if err != nil {
				return err
			}
			res[i] = r
			if !r.Skipped {
				added++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, b := range bodies {
		if b != nil && b.inline == nil && !res[i].Skipped {
			committed[b.name] = true
		}
	}
	if added > 0 {
		s.indexer.Wake()
		s.events.Publish(store.Event{Kind: store.EventNew, AccountID: accountID, MailboxID: mailboxID})
	}
	return res, nil
}

// importOne adds one message's rows and its key within tx: skipped when
// another import stored its key meanwhile; its UID kept when free.
func (s *Store) importOne(ctx context.Context, tx *sql.Tx, mb store.Mailbox, m store.ImportMessage, b *storedBody) (store.ImportedMessage, error) {
	var uid uint32
	err := tx.QueryRowContext(ctx, `SELECT uid FROM import_keys WHERE mailbox_id = ? AND key = ?`, mb.ID, m.Key).Scan(&uid)
	if err == nil {
		return store.ImportedMessage{Skipped: true, UID: uid}, nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return store.ImportedMessage{}, temporary("importing messages", err)
	}
	uid = m.UID
	if uid != 0 && uid != math.MaxUint32 {
		var taken bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE mailbox_id = ? AND uid = ?)`,
			mb.ID, uid).Scan(&taken); err != nil {
			return store.ImportedMessage{}, temporary("importing messages", err)
		}
		if taken {
			uid = 0
		} else if _, err := tx.ExecContext(ctx, `UPDATE mailboxes SET uidnext = max(uidnext, ?) WHERE id = ?`,
			int64(uid)+1, mb.ID); err != nil {
			return store.ImportedMessage{}, temporary("importing messages", err)
		}
	} else {
		uid = 0
	}
	if uid == 0 {
		if uid, _, err = reserveUIDs(ctx, tx, mb.ID, 1); err != nil {
			return store.ImportedMessage{}, err
		}
	}
	if b.inline != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (name, data) VALUES (?, ?)`, b.name, *b.inline); err != nil {
			return store.ImportedMessage{}, temporary("importing messages", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO import_keys (mailbox_id, key, uid) VALUES (?, ?, ?)`,
		mb.ID, m.Key, uid); err != nil {
		return store.ImportedMessage{}, temporary("importing messages", err)
	}
	var flags []string
	for _, f := range m.Flags {
		if !strings.EqualFold(f, `\Recent`) {
			flags = append(flags, f)
		}
	}
	date := m.InternalDate
	if date.IsZero() {
		date = s.now()
	}
	generated := store.UIDL(mb, uid)
	uidl := m.UIDL
	if uidl == "" {
		uidl = generated
	}
	for variant := 1; ; variant++ {
		_, err := tx.ExecContext(ctx, `INSERT INTO messages
			(mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date, flags, save_date)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			mb.ID, mb.AccountID, uid, uidl, b.name, b.size, b.dotLines, toDB(date), store.FormatFlags(flags),
			toDB(s.now()))
		switch {
		case err == nil:
			return store.ImportedMessage{UID: uid, UIDL: uidl, Size: b.size}, nil
		case isUniqueViolation(err) && variant < store.MaxUIDLVariants:
			// The given UIDL is used by another message of the account:
			// keep the message under a generated one.
			uidl = generated
			if variant > 1 {
				uidl = store.UIDLVariant(generated, variant-1)
			}
		default:
			return store.ImportedMessage{}, dbError("importing messages", err)
		}
	}
}

// knownKeys returns which of keys were imported into the mailbox, with
// the UIDs their messages were given.
func (s *Store) knownKeys(ctx context.Context, mailboxID int64, keys []string) (map[string]uint32, error) {
	return s.importKeys(ctx, `SELECT key, uid FROM import_keys
		WHERE mailbox_id = ? AND key IN (SELECT value FROM json_each(?))`, mailboxID, jsonStrings(keys))
}

// ImportedKeys lists the keys imported into a mailbox with their UIDs.
func (s *Store) ImportedKeys(ctx context.Context, mailboxID int64) (map[string]uint32, error) {
	return s.importKeys(ctx, `SELECT key, uid FROM import_keys WHERE mailbox_id = ?`, mailboxID)
}

// importKeys runs a query for import keys and their UIDs.
func (s *Store) importKeys(ctx context.Context, query string, args ...any) (map[string]uint32, error) {
	rows, err := s.reader.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, temporary("reading import keys", err)
	}
	defer rows.Close()
	out := map[string]uint32{}
	for rows.Next() {
		var k string
		var uid uint32
		if err := rows.Scan(&k, &uid); err != nil {
			return nil, temporary("reading import keys", err)
		}
		out[k] = uid
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("reading import keys", err)
	}
	return out, nil
}

// RecordImported adds keys to a mailbox's record in one transaction.
func (s *Store) RecordImported(ctx context.Context, mailboxID int64, keys map[string]uint32) error {
	for k := range keys {
		if err := store.CheckImportKey(k); err != nil {
			return err
		}
	}
	return s.withTx(ctx, "recording import keys", func(tx *sql.Tx) error {
		if _, err := mailboxByID(ctx, tx, mailboxID); err != nil {
			return err
		}
		for k, uid := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO import_keys (mailbox_id, key, uid) VALUES (?, ?, ?)`,
				mailboxID, k, uid); err != nil {
				return temporary("recording import keys", err)
			}
		}
		return nil
	})
}

// UIDLs maps every UID of a mailbox to its POP3 unique-id.
func (s *Store) UIDLs(ctx context.Context, mailboxID int64) (map[uint32]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT uid, uidl FROM messages WHERE mailbox_id = ?`, mailboxID)
	if err != nil {
		return nil, temporary("reading UIDLs", err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var uid uint32
		var uidl string
		if err := rows.Scan(&uid, &uidl); err != nil {
			return nil, temporary("reading UIDLs", err)
		}
		out[uid] = uidl
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("reading UIDLs", err)
	}
	return out, nil
}
