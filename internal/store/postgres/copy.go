package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// newRow is a messages row to insert into a mailbox.
type newRow struct {
	bodyID   int64
	size     int64
	dotLines bool
	date     time.Time
	flags    string
	summary  []byte
	uidl     string    // "" = generated (store.UIDL)
	emailID  *int64    // the original's, for a copy; nil: the row's own id
	saved    time.Time // save_date
	// textIndexed is NULL for a message the text indexer is still to
	// index (messages_added gives it a text_pending row): a new one, or
	// the copy of one not indexed yet; else the original's (true or
	// false: not indexable), so a copy of an indexed message is not
	// indexed again (textindex.go).
	textIndexed *bool
}

// reserveUIDs advances the mailbox's UIDNEXT by n and returns the first
// reserved UID and the UIDVALIDITY. The UPDATE holds the mailbox's row
// lock until the transaction ends, so UIDs become visible in the order
// they were handed out, on every node.
func reserveUIDs(ctx context.Context, t *tx, mailboxID int64, n int) (first, validity uint32, err error) {
	err = t.QueryRow(ctx, `UPDATE mailboxes SET uidnext = uidnext + $1 WHERE id = $2
		RETURNING uidnext - $1, uidvalidity`, n, mailboxID).Scan(&first, &validity)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, notFound("mailbox %d", mailboxID)
	} else if err != nil {
		return 0, 0, temporary("reserving UIDs", err)
	}
	return first, validity, nil
}

// insertRow inserts one message into mb under uid. A given UIDL that is
// taken is store.ErrExists, or replaced by a generated one when fallback;
// a generated one that collides with an imported one becomes its next
// variant. ON CONFLICT DO NOTHING reports the collision without aborting
// the transaction (a failed statement would).
func insertRow(ctx context.Context, t *tx, mb store.Mailbox, uid uint32, r newRow, fallback bool) (string, error) {
	base := store.UIDL(mb, uid)
	uidl, generated := r.uidl, r.uidl == ""
	if generated {
		uidl = base
	}
	for variant := 1; ; variant++ {
		tag, err := t.Exec(ctx, `INSERT INTO messages
			(mailbox_id, account_id, uid, uidl, body_id, size, dot_lines, internal_date, flags, summary,
			email_id, save_date, text_indexed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
			mb.ID, mb.AccountID, uid, uidl, r.bodyID, r.size, r.dotLines, r.date, r.flags, r.summary,
			r.emailID, nullTime(r.saved), r.textIndexed)
		switch {
		case isForeignKeyViolation(err):
			return "", notFound("account %d", mb.AccountID)
		case err != nil:
			return "", temporary("adding message", err)
		case tag.RowsAffected() == 1:
			return uidl, nil
		case !generated && !fallback:
			return "", fmt.Errorf("postgres: UIDL %q: %w", uidl, store.ErrExists)
		case !generated:
			generated, uidl = true, base
		case variant < store.MaxUIDLVariants:
			uidl = store.UIDLVariant(base, variant)
		default:
			return "", fmt.Errorf("postgres: UIDL %q: %w", uidl, store.ErrExists)
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

// lockMailboxes locks two mailboxes in id order (one lock order for every
// transaction keeps deadlocks rare; withTx retries the rest).
func lockMailboxes(ctx context.Context, t *tx, a, b int64) (ma, mb store.Mailbox, err error) {
	if a > b {
		mb, ma, err = lockMailboxes(ctx, t, b, a)
		return ma, mb, err
	}
	if ma, err = lockMailbox(ctx, t, a); err != nil {
		return ma, mb, err
	}
	if a == b {
		return ma, ma, nil
	}
	mb, err = lockMailbox(ctx, t, b)
	return ma, mb, err
}

func (s *Store) copyMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64, move bool) (store.CopyResult, error) {
	var res store.CopyResult
	err := s.withTx(ctx, "copying messages", func(t *tx) error {
		res = store.CopyResult{}
		src, dst, err := lockMailboxes(ctx, t, mailboxID, destID)
		if err != nil {
			return err
		}
		if src.AccountID != dst.AccountID {
			return fmt.Errorf("postgres: copy between accounts: %w", store.ErrInvalid)
		}
		type source struct {
			id  int64
			uid uint32
			row newRow
		}
		var srcs []source
		var size int64
		saved := s.now()
		// One statement over every range (a sparse UID set would cost
		// a round trip per UID); the ranges are disjoint and sorted.
		lo, hi := rangeBounds(store.UIDRanges(uids))
		rows, _ := t.Query(ctx, `SELECT m.id, m.uid, m.body_id, m.size, m.dot_lines, m.internal_date, m.flags, m.summary,
			coalesce(m.email_id, m.id),
			CASE WHEN EXISTS (SELECT 1 FROM text_pending p WHERE p.message_id = m.id) THEN NULL
				ELSE coalesce(m.text_indexed, true) END
			FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
			JOIN messages m ON m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi ORDER BY m.uid`, mailboxID, lo, hi)
		var m source
		var emailID int64
		var indexed *bool
		_, err = pgx.ForEachRow(rows, []any{&m.id, &m.uid, &m.row.bodyID, &m.row.size, &m.row.dotLines, &m.row.date,
			&m.row.flags, &m.row.summary, &emailID, &indexed}, func() error {
			m.row.emailID = new(int64)
			*m.row.emailID = emailID
			m.row.textIndexed = indexed
			m.row.saved = saved
			srcs = append(srcs, m)
			size += m.row.size
			m.row.summary = nil
			return nil
		})
		if err != nil {
			return temporary("copying messages", err)
		}
		res.UIDValidity = dst.UIDValidity
		if len(srcs) == 0 {
			return nil
		}
		if !move {
			if err := fitsQuota(ctx, t, src.AccountID, size); err != nil {
				return err
			}
		}
		first, validity, err := reserveUIDs(ctx, t, destID, len(srcs))
		if err != nil {
			return err
		}
		res.UIDValidity = validity
		dst.UIDValidity = validity
		var moved []int64
		for i, m := range srcs {
			uid := first + uint32(i)
			if _, err := insertRow(ctx, t, dst, uid, m.row, false); err != nil {
				return err
			}
			moved = append(moved, m.id)
			res.Source = append(res.Source, m.uid)
			res.Dest = append(res.Dest, uid)
		}
		t.event(store.Event{Kind: store.EventNew, AccountID: src.AccountID, MailboxID: destID})
		if move {
			if _, err := t.Exec(ctx, `DELETE FROM messages WHERE id = ANY($1)`, moved); err != nil {
				return temporary("moving messages", err)
			}
			t.event(store.Event{Kind: store.EventExpunge, AccountID: src.AccountID, MailboxID: mailboxID})
		}
		return nil
	})
	if err != nil {
		return store.CopyResult{}, err
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
	err := s.withTx(ctx, "expunging", func(t *tx) error {
		gone = nil
		mb, err := lockMailbox(ctx, t, mailboxID)
		if err != nil {
			return err
		}
		var bodies []int64
		lo, hi := rangeBounds(ranges)
		rows, _ := t.Query(ctx, `DELETE FROM messages m USING unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)
			WHERE m.mailbox_id = $1 AND m.uid BETWEEN r.lo AND r.hi
			AND strpos(' ' || m.flags || ' ', ' \Deleted ') > 0 RETURNING m.uid, m.body_id`, mailboxID, lo, hi)
		var uid uint32
		var body int64
		if _, err := pgx.ForEachRow(rows, []any{&uid, &body}, func() error {
			gone = append(gone, uid)
			bodies = append(bodies, body)
			return nil
		}); err != nil {
			return temporary("expunging", err)
		}
		if len(gone) > 0 {
			t.event(store.Event{Kind: store.EventExpunge, AccountID: mb.AccountID, MailboxID: mailboxID})
		}
		return deleteUnreferenced(ctx, t, bodies)
	})
	if err != nil {
		return nil, err
	}
	// RETURNING has no order; callers expect ascending UIDs.
	slices.Sort(gone)
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

// AppendMessages stores client messages in one transaction: the bodies
// streamed into their chunks first, then, under the mailbox's lock, every
// row with consecutive UIDs. Any error rolls everything back.
func (s *Store) AppendMessages(ctx context.Context, mailboxID int64, ms []store.AppendMessage) (uint32, []uint32, error) {
	if len(ms) == 0 {
		return 0, nil, fmt.Errorf("postgres: append of no message: %w", store.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	now := s.now()
	var validity uint32
	uids := make([]uint32, len(ms))
	err := s.runTx(ctx, "appending", func(t *tx) error {
		bodies := make([]storedBody, len(ms))
		var total int64
		for i, m := range ms {
			b, err := s.writeBody(ctx, t, m.Body, m.Binary)
			if err != nil {
				return err
			}
			bodies[i] = b
			total += b.Size
		}
		// The bodies are written: from here on, a deadlock is retried
		// under a savepoint without reading the client's bodies again.
		return retrySavepoint(ctx, t, func() error {
			mb, err := lockMailbox(ctx, t, mailboxID)
			if err != nil {
				return err
			}
			if err := fitsQuota(ctx, t, mb.AccountID, total); err != nil {
				return err
			}
			first, v, err := reserveUIDs(ctx, t, mailboxID, len(ms))
			if err != nil {
				return err
			}
			validity, mb.UIDValidity = v, v
			for i, m := range ms {
				date := m.InternalDate
				if date.IsZero() {
					date = now
				}
				uids[i] = first + uint32(i)
				b := bodies[i]
				if _, err := insertRow(ctx, t, mb, uids[i], newRow{bodyID: b.id, size: b.Size, dotLines: b.DotLines,
					date: date, flags: store.FormatFlags(m.Flags), saved: now}, false); err != nil {
					return err
				}
			}
			t.event(store.Event{Kind: store.EventNew, AccountID: mb.AccountID, MailboxID: mailboxID})
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return validity, uids, nil
}

// retrySavepoint runs fn under a savepoint, again when PostgreSQL picked
// it as a deadlock victim (rolling back to the savepoint releases the
// locks fn took). Events fn recorded on a failed attempt are dropped.
func retrySavepoint(ctx context.Context, t *tx, fn func() error) error {
	var err error
	for range maxAttempts {
		n := len(t.events)
		if _, err = t.Exec(ctx, `SAVEPOINT attempt`); err != nil {
			return temporary("starting savepoint", err)
		}
		if err = fn(); err == nil {
			if _, err := t.Exec(ctx, `RELEASE SAVEPOINT attempt`); err != nil {
				return temporary("releasing savepoint", err)
			}
			return nil
		}
		t.events = t.events[:n]
		if _, rerr := t.Exec(ctx, `ROLLBACK TO SAVEPOINT attempt`); rerr != nil {
			return temporary("rolling back", rerr)
		}
		if !retryable(err) {
			return err
		}
	}
	return err
}

// fitsQuota fails with store.ErrQuota unless size more octets fit in the
// account's quota. It locks the account row, so two nodes adding to one
// account cannot both fit into the same remaining space.
func fitsQuota(ctx context.Context, t *tx, accountID, size int64) error {
	var ok bool
	err := t.QueryRow(ctx, `SELECT quota = 0 OR used + $1 <= quota FROM accounts WHERE id = $2 FOR NO KEY UPDATE`,
		size, accountID).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("account %d", accountID)
	} else if err != nil {
		return temporary("checking quota", err)
	}
	if !ok {
		return fmt.Errorf("postgres: account %d: %w", accountID, store.ErrQuota)
	}
	return nil
}

// Quota reports the account's limit and use (a counter kept by trigger).
func (s *Store) Quota(ctx context.Context, accountID int64) (store.Quota, error) {
	var q store.Quota
	err := s.pool.QueryRow(ctx, `SELECT quota, used FROM accounts WHERE id = $1`, accountID).Scan(&q.Limit, &q.Used)
	if errors.Is(err, pgx.ErrNoRows) {
		return q, notFound("account %d", accountID)
	} else if err != nil {
		return q, temporary("reading quota", err)
	}
	return q, nil
}
