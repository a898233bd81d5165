package sqlite

import (
	"bytes"
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
//
// A full-mailbox FETCH spends most of its time here, so the rows are read
// through the store's own connections (rawread.go), column by column in
// SQLite's memory: summaries are copied into chunks shared by many
// summaries (listArena), inline bodies into pooled buffers (bodyOpener),
// each once. Rows with the same flags share one parsed flag slice.
func (s *Store) ListMessages(ctx context.Context, mailboxID int64, q store.MessageQuery) ([]store.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := s.raw.get(ctx)
	if err != nil {
		return nil, temporary("listing messages", err)
	}
	defer s.raw.put(c)
	st, err := c.prepare(listQuery(q))
	if err != nil {
		return nil, temporary("listing messages", err)
	}
	stmt := rawStmt{c: c, st: st}
	defer stmt.reset()
	maxUID := int64(q.MaxUID)
	if q.MaxUID == 0 {
		maxUID = 1<<32 - 1
	}
	args := []int64{mailboxID, int64(q.MinUID), maxUID}
	if q.SinceModSeq > 0 {
		args = append(args, int64(q.SinceModSeq))
	}
	for i, a := range args {
		if err := stmt.bindInt64(i+1, a); err != nil {
			return nil, temporary("listing messages", err)
		}
	}
	var (
		out      []store.Message
		arena    listArena
		bodies   []listedBody
		flagSets = map[string][]string{}
	)
	if q.Limit > 0 {
		out = make([]store.Message, 0, min(q.Limit, 512))
	}
	for q.Limit <= 0 || len(out) < q.Limit {
		more, err := stmt.step()
		if err != nil {
			return nil, temporary("listing messages", err)
		}
		if !more {
			break
		}
		m := store.Message{ID: stmt.int64(0), UID: uint32(stmt.int64(1)), Size: stmt.int64(2),
			InternalDate: fromDB(stmt.int64(3)), ModSeq: uint64(stmt.int64(5)), EmailID: stmt.int64(6)}
		if !stmt.isNull(7) {
			m.SaveDate = fromDB(stmt.int64(7))
		}
		flags := stmt.bytes(4)
		f, ok := flagSets[string(flags)]
		if !ok {
			f = slices.Clip(store.ParseFlags(string(flags)))
			flagSets[string(flags)] = f
		}
		m.Flags = f
		col := 8
		if q.Summary {
			m.Summary = arena.copy(stmt.bytes(col))
			col++
		}
		if q.Bodies {
			if len(bodies) == cap(bodies) {
				// Fixed chunks: the openers point into them.
				n := 64
				if q.Limit > 0 && q.Limit < n {
					n = q.Limit
				}
				bodies = make([]listedBody, 0, n)
			}
			bodies = bodies[:len(bodies)+1]
			m.Open = s.bodyOpener(&bodies[len(bodies)-1], ctx, mailboxID, m.UID, stmt.bytes(col), !stmt.isNull(col+1), stmt.bytes(col+1), m.Size)
		}
		out = append(out, m)
	}
	return out, nil
}

// listQuery is ListMessages' statement for q's shape; the parameters are
// mailbox, lowest and highest UID, and the mod-sequence when
// q.SinceModSeq is set. It has no LIMIT: the caller stops stepping. A
// bound LIMIT is a value SQLite's planner looks at, so every new binding
// of it made SQLite prepare the statement again (8% of the server's CPU
// under FETCH load); rows come in index order, so stopping early costs
// nothing.
func listQuery(q store.MessageQuery) string {
	cols := `m.id, m.uid, m.size, m.internal_date, m.flags, m.modseq, coalesce(m.email_id, m.id), m.save_date`
	if q.Summary {
		cols += `, m.summary`
	}
	from := ` FROM messages m`
	if q.Bodies {
		cols += `, m.body, b.data`
		from += ` LEFT JOIN blobs b ON b.name = m.body`
	}
	query := `SELECT ` + cols + from + ` WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3`
	if q.SinceModSeq > 0 {
		query += ` AND m.modseq > ?4`
	}
	return query + ` ORDER BY m.uid`
}

// listedBody is Message.Open for a body listed by ListMessages. An
// inline body was copied into a buffer of the store's pool, which the
// reader the first Open returns gives back on Close; a later Open (a
// caller reading the body again) looks the body up anew, as does every
// Open of a file body. ListMessages allocates them a batch at a time.
type listedBody struct {
	s         *Store
	ctx       context.Context
	mailboxID int64
	uid       uint32
	file      string // "" for an inline body
	body      inlineBody
	opened    bool
}

func (l *listedBody) open() (io.ReadCloser, error) {
	switch {
	case l.file != "":
		return l.s.openBody(l.file, false, nil)
	case !l.opened:
		l.opened = true
		l.body.Reset(*l.body.buf)
		return &l.body, nil
	}
	return l.s.OpenMessage(l.ctx, l.mailboxID, l.uid)
}

// bodyOpener sets up l from the row's values (valid until the next row):
// an inline body is copied into a pooled buffer.
func (s *Store) bodyOpener(l *listedBody, ctx context.Context, mailboxID int64, uid uint32, name []byte, inline bool, data []byte, size int64) func() (io.ReadCloser, error) {
	*l = listedBody{s: s, ctx: ctx, mailboxID: mailboxID, uid: uid}
	if !inline && size > 0 {
		l.file = string(name)
	} else {
		l.body = inlineBody{s: s, buf: s.readBuffers.copy(data)}
	}
	return l.open
}

// listArenaChunk is the size of the chunks a listArena allocates: a few
// dozen summaries each, small enough for the allocator's size classes.
const listArenaChunk = 32 << 10

// listArena hands out copies of byte slices carved from large chunks:
// one allocation per chunk instead of one per value. A chunk is never
// written again once handed out, so the slices stay valid.
type listArena struct{ chunk []byte }

// copy returns a copy of b (nil for nil) whose capacity is its length, so
// an append by the caller never reaches the next value.
func (a *listArena) copy(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(a.chunk)-len(a.chunk) {
		if len(b) > listArenaChunk/4 {
			return bytes.Clone(b) // large: a chunk of its own
		}
		a.chunk = make([]byte, 0, listArenaChunk)
	}
	start := len(a.chunk)
	a.chunk = append(a.chunk, b...)
	return a.chunk[start:len(a.chunk):len(a.chunk)]
}

// ListUIDs returns every UID of a mailbox, ascending.
func (s *Store) ListUIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	rows, err := s.queryInts(ctx, "listing UIDs", `SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid`, mailboxID)
	if err != nil {
		return nil, err
	}
	// Exact size: an IMAP view keeps this slice for the whole session.
	out := make([]uint32, len(rows))
	for i, u := range rows {
		out[i] = uint32(u)
	}
	return out, nil
}

// OpenMessage opens a message body by UID, through the same query shape
// and pooled buffer as a POP3 RETR (queryBody): a scalar subquery for the
// inline bytes, which SQLite does not re-prepare per bound value as it
// does a LEFT JOIN's (76679bc).
func (s *Store) OpenMessage(ctx context.Context, mailboxID int64, uid uint32) (io.ReadCloser, error) {
	r, err := s.queryBody(ctx, `SELECT m.body, (SELECT data FROM blobs WHERE name = m.body), m.size
		FROM messages m WHERE m.mailbox_id = ? AND m.uid = ?`, mailboxID, int64(uid))
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
	changed, _, err := s.updateFlags(ctx, mailboxID, uids, op, flags, false, 0)
	return changed, err
}

// UpdateFlagsIf is UpdateFlags for the messages whose mod-sequence is at
// most unchangedSince; it returns the UIDs of the others.
func (s *Store) UpdateFlagsIf(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []uint32, error) {
	return s.updateFlags(ctx, mailboxID, uids, op, flags, true, unchangedSince)
}

// updateFlags is UpdateFlags and, when conditional, UpdateFlagsIf: the
// test and the change in one transaction, so no other writer slips in
// between.
func (s *Store) updateFlags(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string,
	conditional bool, unchangedSince uint64) ([]store.Message, []uint32, error) {
	update := store.NewFlagUpdate(op, flags, conditional, unchangedSince)
	var changed []store.Message
	var modified []uint32
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
				next, change, refused := update.Apply(m)
				if refused {
					modified = append(modified, m.UID)
				}
				if !change {
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
		return nil, nil, err
	}
	if len(changed) > 0 {
		s.events.Publish(store.Event{Kind: store.EventFlags, AccountID: accountID, MailboxID: mailboxID})
	}
	return changed, modified, nil
}

// Expunged lists a mailbox's tombstones above since (migration 9). The
// floor and the tombstones are read in one transaction, so a prune in
// between cannot make a shortened list look complete.
func (s *Store) Expunged(ctx context.Context, mailboxID int64, since uint64) ([]uint32, bool, error) {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, false, temporary("listing expunged", err)
	}
	defer tx.Rollback()
	var floor uint64
	err = tx.QueryRowContext(ctx, `SELECT expunged_floor FROM mailboxes WHERE id = ?`, mailboxID).Scan(&floor)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return nil, false, temporary("listing expunged", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`, mailboxID, since)
	if err != nil {
		return nil, false, temporary("listing expunged", err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, false, temporary("listing expunged", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, false, temporary("listing expunged", err)
	}
	return out, since >= floor, nil
}
