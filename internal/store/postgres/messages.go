package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// listedBodyMax is the largest body ListMessages brings with the listing
// (q.Bodies); larger ones are read chunk by chunk when opened.
const listedBodyMax = 64 << 10

// ListMessages returns the messages q selects, in UID order. With
// q.Bodies the same query brings every body up to listedBodyMax, which is
// most mail.
func (s *Store) ListMessages(ctx context.Context, mailboxID int64, q store.MessageQuery) ([]store.Message, error) {
	cols := `m.id, m.uid, m.size, m.internal_date, m.flags, m.modseq, coalesce(m.email_id, m.id), m.save_date`
	if q.Summary {
		cols += `, m.summary`
	}
	if q.Bodies {
		// The first chunk of small bodies only: a listing of large
		// messages must not hold 256 KiB of each in memory.
		cols += fmt.Sprintf(`, m.body_id, m.size, CASE WHEN m.size <= %d THEN
			(SELECT data FROM body_chunks WHERE body_id = m.body_id AND seq = 0) END`, listedBodyMax)
	}
	maxUID := int64(q.MaxUID)
	if q.MaxUID == 0 {
		maxUID = 1<<32 - 1
	}
	query := `SELECT ` + cols + ` FROM messages m WHERE m.mailbox_id = $1 AND m.uid BETWEEN $2 AND $3`
	args := []any{mailboxID, q.MinUID, maxUID}
	if q.SinceModSeq > 0 {
		query += ` AND m.modseq > $4`
		args = append(args, int64(q.SinceModSeq))
	}
	query += ` ORDER BY m.uid`
	if q.Limit > 0 {
		query += fmt.Sprintf(` LIMIT %d`, q.Limit)
	}
	rows, _ := s.pool.Query(ctx, query, args...)
	// The same scan targets for every row, the summaries copied into
	// blocks shared by the batch, the bodies into pooled blocks that
	// come back once their readers are closed: a row allocates what it
	// returns (its flags, its opener), not a copy of every column.
	var (
		m            store.Message
		flags        string
		saved        *time.Time
		bodyID, size int64
		arena        byteArena
		summary      = arenaBytes{arena: &arena}
		first        blockBytes
		out          []store.Message
	)
	dest := []any{&m.ID, &m.UID, &m.Size, &m.InternalDate, &flags, &m.ModSeq, &m.EmailID, &saved}
	if q.Summary {
		dest = append(dest, &summary)
	}
	if q.Bodies {
		dest = append(dest, &bodyID, &size, &first)
	}
	_, err := pgx.ForEachRow(rows, dest, func() error {
		mm := m
		mm.Flags = store.ParseFlags(flags)
		if saved != nil {
			mm.SaveDate = *saved
		}
		mm.Summary = summary.take()
		if q.Bodies {
			id, size, body := bodyID, size, first.take()
			mm.Open = func() (io.ReadCloser, error) { return s.openListed(id, size, body), nil }
		}
		out = append(out, mm)
		return nil
	})
	if err != nil {
		return nil, temporary("listing messages", err)
	}
	return out, nil
}

// byteArena hands out copies of byte slices from blocks it allocates,
// each twice the last (from 4 KiB up to 256 KiB), so the values of a
// listing cost a few allocations, not one each. A block is never
// reallocated: the copies stay valid, and alive as long as any of them.
type byteArena struct {
	block []byte
}

func (a *byteArena) copy(v []byte) []byte {
	if len(v) > cap(a.block)-len(a.block) {
		next := min(max(2*cap(a.block), 4<<10), 256<<10)
		a.block = make([]byte, 0, max(next, len(v)))
	}
	n := len(a.block)
	a.block = append(a.block, v...)
	return a.block[n:len(a.block):len(a.block)]
}

// arenaBytes scans a bytea into an arena (pgtype.BytesScanner); take
// returns the last value (nil for NULL) and forgets it.
type arenaBytes struct {
	arena *byteArena
	last  []byte
}

func (b *arenaBytes) ScanBytes(v []byte) error {
	b.last = nil
	if v != nil {
		b.last = b.arena.copy(v)
	}
	return nil
}

func (b *arenaBytes) take() []byte {
	v := b.last
	b.last = nil
	return v
}

// blockBytes scans the bodies of a listing into pooled blocks
// (pgtype.BytesScanner): copied into fresh blocks, a listing of 64
// messages of 10 KB took 640 KB of zeroed memory per IMAP FETCH batch,
// allocating and collecting which was about 15% of the CPU profile of a
// full-mailbox FETCH. take returns the last body (nil for NULL) and
// forgets it.
type blockBytes struct {
	cur  *bodyBlock // the block being filled
	last *listedBody
}

func (b *blockBytes) ScanBytes(v []byte) error {
	b.last = nil
	switch {
	case v == nil:
	case len(v) > blockSize: // never a listed body (listedBodyMax); not pooled
		b.last = &listedBody{data: bytes.Clone(v)}
	default:
		if b.cur == nil || len(v) > cap(*b.cur.buf)-len(*b.cur.buf) {
			b.cur = &bodyBlock{buf: blockBuffers.Get().(*[]byte)}
		}
		buf := append(*b.cur.buf, v...)
		*b.cur.buf = buf
		b.cur.refs.Add(1)
		b.last = &listedBody{data: buf[len(buf)-len(v) : len(buf) : len(buf)], block: b.cur}
	}
	return nil
}

func (b *blockBytes) take() *listedBody {
	v := b.last
	b.last = nil
	return v
}

// listedBody is a body a listing brought. Its first Open reads it where
// it is, and the Close of that reader gives up its share of the block;
// any later Open reads it from the database, as does every Open of a body
// the listing did not bring (nil).
type listedBody struct {
	data  []byte
	block *bodyBlock // nil: data is not pooled
	taken atomic.Bool
}

// openListed opens body id of a listing (see listedBody).
func (s *Store) openListed(id, size int64, b *listedBody) io.ReadCloser {
	switch {
	case b != nil && b.block == nil:
		return s.openBody(id, size, b.data)
	case b == nil || !b.taken.CompareAndSwap(false, true):
		return s.openBody(id, size, nil)
	}
	r := &blockReader{block: b.block}
	r.Reset(b.data)
	b.data = nil
	return r
}

// ListUIDs returns every UID of a mailbox, ascending.
func (s *Store) ListUIDs(ctx context.Context, mailboxID int64) ([]uint32, error) {
	rows, _ := s.pool.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid`, mailboxID)
	out, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return nil, temporary("listing UIDs", err)
	}
	return out, nil
}

// OpenMessage opens a message body by UID.
func (s *Store) OpenMessage(ctx context.Context, mailboxID int64, uid uint32) (io.ReadCloser, error) {
	r, err := s.queryBody(ctx, `SELECT `+bodyColumns+` FROM messages m WHERE m.mailbox_id = $1 AND m.uid = $2`,
		mailboxID, uid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("message UID %d", uid)
	} else if err != nil {
		return nil, err
	}
	return r, nil
}

// SetSummaries stores parsed-message caches in one statement.
func (s *Store) SetSummaries(ctx context.Context, updates []store.SummaryUpdate) error {
	if len(updates) == 0 {
		return nil
	}
	ids := make([]int64, len(updates))
	sums := make([][]byte, len(updates))
	for i, u := range updates {
		ids[i], sums[i] = u.MessageID, u.Summary
	}
	if _, err := s.pool.Exec(ctx, `UPDATE messages m SET summary = u.summary
		FROM unnest($1::bigint[], $2::bytea[]) AS u(id, summary) WHERE m.id = u.id`, ids, sums); err != nil {
		return temporary("caching summaries", err)
	}
	return nil
}

// lockMailbox takes the mailbox's row lock for the rest of t: every
// change of a mailbox's messages takes it first, so changes of one
// mailbox commit in the order of the mod-sequences (and UIDs) they were
// given.
func lockMailbox(ctx context.Context, t *tx, mailboxID int64) (store.Mailbox, error) {
	return mailboxWhere(ctx, t, fmt.Sprint(mailboxID), `id = $1 FOR UPDATE`, mailboxID)
}

// bumpModSeq advances a mailbox's mod-sequence and returns the new value.
func bumpModSeq(ctx context.Context, t *tx, mailboxID int64) (uint64, error) {
	var n uint64
	if err := t.QueryRow(ctx, `UPDATE mailboxes SET modseq = modseq + 1 WHERE id = $1 RETURNING modseq`,
		mailboxID).Scan(&n); err != nil {
		return 0, temporary("updating mailbox", err)
	}
	return n, nil
}

// UpdateFlags changes flags and stamps changed messages with a new
// mod-sequence; a no-op changes nothing and wakes no watcher.
func (s *Store) UpdateFlags(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string) ([]store.Message, error) {
	changed, _, err := s.updateFlags(ctx, mailboxID, uids, op, flags, false, 0)
	return changed, err
}

// UpdateFlagsIf is UpdateFlags for the messages whose mod-sequence is at
// most unchangedSince; it returns the UIDs of the others. The mailbox
// row lock orders it with every other change of the mailbox.
func (s *Store) UpdateFlagsIf(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string, unchangedSince uint64) ([]store.Message, []uint32, error) {
	return s.updateFlags(ctx, mailboxID, uids, op, flags, true, unchangedSince)
}

func (s *Store) updateFlags(ctx context.Context, mailboxID int64, uids []uint32, op store.FlagOp, flags []string,
	conditional bool, unchangedSince uint64) ([]store.Message, []uint32, error) {
	update := store.NewFlagUpdate(op, flags, conditional, unchangedSince)
	var changed []store.Message
	var modified []uint32
	err := s.withTx(ctx, "updating flags", func(t *tx) error {
		changed, modified = nil, nil
		mb, err := lockMailbox(ctx, t, mailboxID)
		if err != nil {
			return err
		}
		var modseq uint64
		// One statement over every range: a sparse UID set (1,3,5,...)
		// would otherwise cost two round trips per UID.
		lo, hi := rangeBounds(store.UIDRanges(uids))
		rows, _ := t.Query(ctx, `SELECT m.id, m.uid, m.size, m.internal_date, m.flags, m.modseq, coalesce(m.email_id, m.id), m.save_date
			FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
			JOIN messages m ON m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi ORDER BY m.uid`, mailboxID, lo, hi)
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Message, error) {
			var m store.Message
			var flags string
			var saved *time.Time
			err := r.Scan(&m.ID, &m.UID, &m.Size, &m.InternalDate, &flags, &m.ModSeq, &m.EmailID, &saved)
			m.Flags = store.ParseFlags(flags)
			if saved != nil {
				m.SaveDate = *saved
			}
			return m, err
		})
		if err != nil {
			return temporary("updating flags", err)
		}
		var ids []int64
		var next []string
		for _, m := range msgs {
			n, change, refused := update.Apply(m)
			if refused {
				modified = append(modified, m.UID)
			}
			if !change {
				continue
			}
			if modseq == 0 {
				if modseq, err = bumpModSeq(ctx, t, mailboxID); err != nil {
					return err
				}
			}
			ids, next = append(ids, m.ID), append(next, n)
			m.Flags, m.ModSeq = store.ParseFlags(n), modseq
			changed = append(changed, m)
		}
		if len(ids) > 0 {
			if _, err := t.Exec(ctx, `UPDATE messages m SET flags = u.flags, modseq = $3
				FROM unnest($1::bigint[], $2::text[]) AS u(id, flags) WHERE m.id = u.id`, ids, next, int64(modseq)); err != nil {
				return temporary("updating flags", err)
			}
		}
		if len(changed) > 0 {
			t.event(store.Event{Kind: store.EventFlags, AccountID: mb.AccountID, MailboxID: mailboxID})
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return changed, modified, nil
}

// Expunged lists a mailbox's tombstones above since (migration 2); one
// statement reads the floor and the list from one snapshot, so a prune
// cannot make a shortened list look complete.
func (s *Store) Expunged(ctx context.Context, mailboxID int64, since uint64) ([]uint32, bool, error) {
	var floor int64
	var uids []int64
	err := s.pool.QueryRow(ctx, `SELECT m.expunged_floor, array(SELECT uid FROM expunged
		WHERE mailbox_id = m.id AND modseq > $2 ORDER BY uid) FROM mailboxes m WHERE m.id = $1`,
		mailboxID, int64(since)).Scan(&floor, &uids)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, fmt.Errorf("postgres: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return nil, false, temporary("listing expunged", err)
	}
	out := make([]uint32, len(uids))
	for i, u := range uids {
		out[i] = uint32(u)
	}
	return out, int64(since) >= floor, nil
}

// rangeBounds splits ranges into parallel arrays of bounds, for a statement
// that joins unnest($lo, $hi) instead of running once per range.
func rangeBounds(ranges []store.UIDRange) (lo, hi []int64) {
	lo, hi = make([]int64, len(ranges)), make([]int64, len(ranges))
	for i, r := range ranges {
		lo[i], hi[i] = int64(r.Lo), int64(r.Hi)
	}
	return lo, hi
}
