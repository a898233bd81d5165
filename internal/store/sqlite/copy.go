package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/store"
)

func mailboxByID(ctx context.Context, tx *sql.Tx, id int64) (store.Mailbox, error) {
	m, err := scanMailbox(tx.QueryRowContext(ctx, `SELECT `+mailboxColumns+` WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("sqlite: mailbox %d: %w", id, store.ErrNotFound)
	} else if err != nil {
		return m, temporary("looking up mailbox", err)
	}
	return m, nil
}

// newRow is a messages row to insert into a mailbox.
type newRow struct {
	body     string
	size     int64
	dotLines bool
	date     int64
	flags    string
	summary  []byte
	emailID  sql.NullInt64 // the original's, for a copy; NULL: the row's own id
	saved    int64         // save_date
	textDoc  sql.NullInt64 // messages.text_doc: the original's for a copy
}

// reserveUIDs advances the mailbox's UIDNEXT by n and returns the first
// reserved UID and the UIDVALIDITY.
func reserveUIDs(ctx context.Context, tx *sql.Tx, mailboxID int64, n int) (first, validity uint32, err error) {
	err = tx.QueryRowContext(ctx, `UPDATE mailboxes SET uidnext = uidnext + ?1 WHERE id = ?2
		RETURNING uidnext - ?1, uidvalidity`, n, mailboxID).Scan(&first, &validity)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return 0, 0, temporary("reserving UIDs", err)
	}
	return first, validity, nil
}

// insertRow inserts one message into mb under uid, with a generated UIDL
// (store.UIDL): unique by construction unless an imported UIDL happens to
// be equal, in which case a variant is tried.
func insertRow(ctx context.Context, tx *sql.Tx, mb store.Mailbox, uid uint32, r newRow) error {
	base := store.UIDL(mb, uid)
	uidl := base
	for variant := 1; ; variant++ {
		_, err := tx.ExecContext(ctx, `INSERT INTO messages
			(mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date, flags, summary, email_id, save_date, text_doc)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			mb.ID, mb.AccountID, uid, uidl, r.body, r.size, r.dotLines, r.date, r.flags, r.summary, r.emailID, r.saved, r.textDoc)
		switch {
		case err == nil:
			return nil
		case isUniqueViolation(err) && variant < store.MaxUIDLVariants:
			uidl = store.UIDLVariant(base, variant)
		default:
			return dbError("adding message", err)
		}
	}
}

// CopyMessages copies messages to another mailbox of the account.
func (s *Store) CopyMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64) (store.CopyResult, error) {
	return s.copyMessages(ctx, mailboxID, uids, destID, false)
}

// MoveMessages moves messages to another mailbox of the account.
func (s *Store) MoveMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64) (store.CopyResult, error) {
	return s.copyMessages(ctx, mailboxID, uids, destID, true)
}

func (s *Store) copyMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64, move bool) (store.CopyResult, error) {
	var res store.CopyResult
	var accountID int64
	err := s.withTx(ctx, "copying messages", func(tx *sql.Tx) error {
		src, err := mailboxByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		dst, err := mailboxByID(ctx, tx, destID)
		if err != nil {
			return err
		}
		if src.AccountID != dst.AccountID {
			return fmt.Errorf("sqlite: copy between accounts: %w", store.ErrInvalid)
		}
		accountID = src.AccountID
		type source struct {
			id  int64
			uid uint32
			row newRow
		}
		var srcs []source
		for _, r := range store.UIDRanges(uids) {
			rows, err := tx.QueryContext(ctx, `SELECT id, uid, body, size, dot_lines, internal_date, flags, summary,
				coalesce(email_id, id), text_doc FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, mailboxID, r.Lo, r.Hi)
			if err != nil {
				return temporary("copying messages", err)
			}
			for rows.Next() {
				var m source
				if err := rows.Scan(&m.id, &m.uid, &m.row.body, &m.row.size, &m.row.dotLines, &m.row.date,
					&m.row.flags, &m.row.summary, &m.row.emailID, &m.row.textDoc); err != nil {
					rows.Close()
					return temporary("copying messages", err)
				}
				srcs = append(srcs, m)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return temporary("copying messages", err)
			}
		}
		if len(srcs) == 0 {
			res.UIDValidity = dst.UIDValidity
			return nil
		}
		if !move {
			var size int64
			for _, m := range srcs {
				size += m.row.size
			}
			if err := fitsQuota(ctx, tx, accountID, size); err != nil {
				return err
			}
		}
		first, validity, err := reserveUIDs(ctx, tx, destID, len(srcs))
		if err != nil {
			return err
		}
		res.UIDValidity = validity
		saved := toDB(s.now())
		for i, m := range srcs {
			uid := first + uint32(i)
			m.row.saved = saved
			if err := insertRow(ctx, tx, dst, uid, m.row); err != nil {
				return err
			}
			if move {
				if _, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE id = ?`, m.id); err != nil {
					return temporary("moving messages", err)
				}
			}
			res.Source = append(res.Source, m.uid)
			res.Dest = append(res.Dest, uid)
		}
		return nil
	})
	if err != nil {
		return store.CopyResult{}, err
	}
	if len(res.Source) > 0 {
		s.events.Publish(store.Event{Kind: store.EventNew, AccountID: accountID, MailboxID: destID})
		if move {
			s.events.Publish(store.Event{Kind: store.EventExpunge, AccountID: accountID, MailboxID: mailboxID})
		}
	}
	return res, nil
}

// Expunge removes \Deleted messages, all or among uids.
func (s *Store) Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error) {
	ranges := []store.UIDRange{{Lo: 0, Hi: 1<<32 - 1}}
	if uids != nil {
		ranges = store.UIDRanges(uids)
	}
	var gone []uint32
	var unreferenced []string
	var accountID int64
	err := s.withFreeingTx(ctx, "expunging", func(tx *sql.Tx) error {
		mb, err := mailboxByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		accountID = mb.AccountID
		var bodies []string
		for _, r := range ranges {
			rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ?
				AND instr(' ' || flags || ' ', ' \Deleted ') > 0 RETURNING uid, body`, mailboxID, r.Lo, r.Hi)
			if err != nil {
				return temporary("expunging", err)
			}
			for rows.Next() {
				var uid uint32
				var body string
				if err := rows.Scan(&uid, &body); err != nil {
					rows.Close()
					return temporary("expunging", err)
				}
				gone = append(gone, uid)
				bodies = append(bodies, body)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return temporary("expunging", err)
			}
		}
		unreferenced, err = s.unreferencedBodies(ctx, tx, bodies)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.removeBodies(unreferenced)
	s.ensureReserve()
	if len(gone) > 0 {
		s.events.Publish(store.Event{Kind: store.EventExpunge, AccountID: accountID, MailboxID: mailboxID})
	}
	return gone, nil
}

// Append stores a client's message (see AppendMessages).
func (s *Store) Append(ctx context.Context, mailboxID int64, m store.AppendMessage) (uint32, uint32, error) {
	validity, uids, err := s.AppendMessages(ctx, mailboxID, []store.AppendMessage{m})
	if err != nil {
		return 0, 0, err
	}
	return validity, uids[0], nil
}

// AppendMessages stores client messages: the body files first (durable,
// with their directory entries), then every row in one transaction. On
// error the files written are removed, so nothing remains.
func (s *Store) AppendMessages(ctx context.Context, mailboxID int64, ms []store.AppendMessage) (uint32, []uint32, error) {
	if len(ms) == 0 {
		return 0, nil, fmt.Errorf("sqlite: append of no message: %w", store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if err := s.checkReserve(); err != nil {
		return 0, nil, err
	}
	bodies := make([]storedBody, 0, len(ms))
	var files []string
	defer func() {
		for _, b := range bodies {
			s.releaseBody(b.inline)
		}
	}()
	dirs := map[string]bool{}
	var total int64
	for _, m := range ms {
		body, err := s.writeBody(m.Body, m.Binary)
		if err != nil {
			s.removeBodies(files)
			return 0, nil, err
		}
		bodies = append(bodies, body)
		total += body.size
		if body.inline == nil {
			files = append(files, body.name)
			dirs[filepath.Dir(s.bodyPath(body.name))] = true
		}
	}
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			s.removeBodies(files)
			return 0, nil, temporary("writing message file", err)
		}
	}
	now := s.now()
	var validity uint32
	uids := make([]uint32, len(ms))
	var accountID int64
	err := s.withTx(ctx, "appending", func(tx *sql.Tx) error {
		mb, err := mailboxByID(ctx, tx, mailboxID)
		if err != nil {
			return err
		}
		accountID = mb.AccountID
		if err := fitsQuota(ctx, tx, accountID, total); err != nil {
			return err
		}
		first, v, err := reserveUIDs(ctx, tx, mailboxID, len(ms))
		if err != nil {
			return err
		}
		validity = v
		for i, m := range ms {
			body := bodies[i]
			if body.inline != nil {
				if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (name, data) VALUES (?, ?)`,
					body.name, *body.inline); err != nil {
					return temporary("appending", err)
				}
			}
			date := m.InternalDate
			if date.IsZero() {
				date = now
			}
			uids[i] = first + uint32(i)
			if err := insertRow(ctx, tx, mb, uids[i], newRow{body: body.name, size: body.size, dotLines: body.dotLines,
				date: toDB(date), flags: store.FormatFlags(m.Flags), saved: toDB(now)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.removeBodies(files)
		return 0, nil, err
	}
	s.indexer.Wake()
	s.events.Publish(store.Event{Kind: store.EventNew, AccountID: accountID, MailboxID: mailboxID})
	return validity, uids, nil
}

// fitsQuota fails with store.ErrQuota unless size more octets fit in the
// account's quota (APPEND and COPY; a MOVE adds nothing). Deliveries check
// the same counter in the committer.
func fitsQuota(ctx context.Context, tx *sql.Tx, accountID, size int64) error {
	var ok bool
	if err := tx.QueryRowContext(ctx, `SELECT quota = 0 OR used + ? <= quota FROM accounts WHERE id = ?`,
		size, accountID).Scan(&ok); err != nil {
		return temporary("checking quota", err)
	}
	if !ok {
		return fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrQuota)
	}
	return nil
}

// Quota reports the account's limit and use (a counter kept by trigger).
func (s *Store) Quota(ctx context.Context, accountID int64) (store.Quota, error) {
	var q store.Quota
	err := s.reader.QueryRowContext(ctx, `SELECT quota, used FROM accounts WHERE id = ?`,
		accountID).Scan(&q.Limit, &q.Used)
	if errors.Is(err, sql.ErrNoRows) {
		return q, fmt.Errorf("sqlite: account %d: %w", accountID, store.ErrNotFound)
	} else if err != nil {
		return q, temporary("reading quota", err)
	}
	return q, nil
}

// Subscribe reports changes of the account's mailboxes, made by this
// process (published directly) or by another (found by the poller).
func (s *Store) Subscribe(accountID int64) *store.Subscription {
	sub := s.events.Subscribe(accountID)
	s.watch.wake()
	return sub
}
