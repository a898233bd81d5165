package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pochta-mail/pochta/internal/store"
)

func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

const messageColumns = `id, uid, size, internal_date, flags, modseq, coalesce(email_id, id), save_date`

func scanMessage(rows *sql.Rows, withSummary bool, extra ...any) (store.Message, error) {
	var m store.Message
	var date int64
	var saved sql.NullInt64
	var flags string
	dest := []any{&m.ID, &m.UID, &m.Size, &date, &flags, &m.ModSeq, &m.EmailID, &saved}
	if withSummary {
		dest = append(dest, &m.Summary)
	}
	if err := rows.Scan(append(dest, extra...)...); err != nil {
		return m, err
	}
	m.InternalDate = fromDB(date)
	if saved.Valid {
		m.SaveDate = fromDB(saved.Int64)
	}
	m.Flags = store.ParseFlags(flags)
	return m, nil
}

// ListMessages returns the messages q selects, in UID order. With
// q.Bodies, one query also brings the bodies kept inline (most mail), so
// reading a batch of messages costs no query per message.
func (s *Store) ListMessages(ctx context.Context, mailboxID int64, q store.MessageQuery) ([]store.Message, error) {
	cols := `m.id, m.uid, m.size, m.internal_date, m.flags, m.modseq, coalesce(m.email_id, m.id), m.save_date`
	if q.Summary {
		cols += `, m.summary`
	}
	from := ` FROM messages m`
	if q.Bodies {
		cols += `, m.body, b.name IS NOT NULL, b.data`
		from += ` LEFT JOIN blobs b ON b.name = m.body`
	}
	maxUID := int64(q.MaxUID)
	if q.MaxUID == 0 {
		maxUID = 1<<32 - 1
	}
	limit := int64(q.Limit)
	if limit <= 0 {
		limit = -1
	}
	query := `SELECT ` + cols + from + ` WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ?`
	args := []any{mailboxID, q.MinUID, maxUID}
	if q.SinceModSeq > 0 {
		query += ` AND m.modseq > ?`
		args = append(args, q.SinceModSeq)
	}
	rows, err := s.query(ctx, query+` ORDER BY m.uid LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, temporary("listing messages", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		var name string
		var inline bool
		var data []byte
		var extra []any
		if q.Bodies {
			extra = []any{&name, &inline, &data}
		}
		m, err := scanMessage(rows, q.Summary, extra...)
		if err != nil {
			return nil, temporary("listing messages", err)
		}
		if q.Bodies {
			m.Open = func() (io.ReadCloser, error) { return s.openBody(name, inline, data) }
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing messages", err)
	}
	return out, nil
}

// ListUIDs returns every UID of a mailbox, ascending.
func (s *Store) ListUIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	rows, err := s.query(ctx, `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, temporary("listing UIDs", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, temporary("listing UIDs", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("listing UIDs", err)
	}
	// Exact size: an IMAP view keeps this slice for the whole session.
	return slices.Clone(out), nil
}

// OpenMessage opens a message body by UID, through the same query shape
// and pooled buffer as a POP3 RETR (queryBody): a scalar subquery for the
// inline bytes, which SQLite does not re-prepare per bound value as it
// does a LEFT JOIN's (76679bc).
func (s *Store) OpenMessage(ctx context.Context, mailboxID int64, uid uint32) (io.ReadCloser, error) {
	r, err := s.queryBody(ctx, `SELECT m.body, (SELECT data FROM blobs WHERE name = m.body), m.size
		FROM messages m WHERE m.mailbox_id = ? AND m.uid = ?`, mailboxID, uid)
	if errors.Is(err, store.ErrNotFound) {
		// No such UID, or expunged and removed between the query and the open.
		return nil, fmt.Errorf("sqlite: message UID %d: %w", uid, err)
	}
	return r, err
}

// SetSummaries stores parsed-message caches in one transaction.
func (s *Store) SetSummaries(ctx context.Context, updates []store.SummaryUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	return s.withTx(ctx, "caching summaries", func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE messages SET summary = ? WHERE id = ?`)
		if err != nil {
			return temporary("caching summaries", err)
		}
		defer stmt.Close()
		for _, u := range updates {
			if _, err := stmt.ExecContext(ctx, u.Summary, u.MessageID); err != nil {
				return temporary("caching summaries", err)
			}
		}
		return nil
	})
}

// bumpModSeq advances a mailbox's mod-sequence and returns the new value.
func bumpModSeq(ctx context.Context, tx *sql.Tx, mailboxID int64) (store.Mailbox, error) {
	m, err := scanMailbox(tx.QueryRowContext(ctx, `UPDATE mailboxes SET modseq = modseq + 1 WHERE id = ?
		RETURNING `+strings.TrimSuffix(mailboxColumns, " FROM mailboxes"), mailboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return m, temporary("updating mailbox", err)
	}
	return m, nil
}

// UpdateFlags changes flags and stamps changed messages with a new
// mod-sequence.
func (s *Store) UpdateFlags(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string) ([]store.Message, error) {
	given := store.ParseFlags(store.FormatFlags(flags))
	var changed []store.Message
	var accountID int64
	err := s.withFreeingTx(ctx, "updating flags", func(tx *sql.Tx) error {
		// The mod-sequence advances only when something changes, so a
		// no-op STORE wakes no watcher.
		var mb store.Mailbox
		for _, r := range store.UIDRanges(uids) {
			rows, err := tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
				WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, mailboxID, r.Lo, r.Hi)
			if err != nil {
				return temporary("updating flags", err)
			}
			var msgs []store.Message
			for rows.Next() {
				m, err := scanMessage(rows, false)
				if err != nil {
					rows.Close()
					return temporary("updating flags", err)
				}
				msgs = append(msgs, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return temporary("updating flags", err)
			}
			for _, m := range msgs {
				next := store.ApplyFlags(m.Flags, op, given)
				if next == strings.Join(m.Flags, " ") {
					continue
				}
				if mb.ID == 0 {
					if mb, err = bumpModSeq(ctx, tx, mailboxID); err != nil {
						return err
					}
					accountID = mb.AccountID
				}
				if _, err := tx.ExecContext(ctx, `UPDATE messages SET flags = ?, modseq = ? WHERE id = ?`,
					next, mb.ModSeq, m.ID); err != nil {
					return temporary("updating flags", err)
				}
				m.Flags, m.ModSeq = store.ParseFlags(next), mb.ModSeq
				changed = append(changed, m)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(changed) > 0 {
		s.events.Publish(store.Event{Kind: store.EventFlags, AccountID: accountID, MailboxID: mailboxID})
	}
	return changed, nil
}
