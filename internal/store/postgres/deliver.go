package postgres

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// Deliver stores d for every recipient (and on the outbound queue) in one
// transaction: the body first, streamed into chunks, then a message row
// per recipient, each taking its UID from its mailbox row. It returns nil
// only once the transaction committed; on error nothing is visible.
//
// Concurrent deliveries need no group committer here: PostgreSQL flushes
// the WAL of transactions committing together with one fsync.
func (s *Store) Deliver(ctx context.Context, d store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	date := d.InternalDate
	if date.IsZero() {
		date = now
	}
	// Recipients in account order: every delivery locks rows in the same
	// order, so two deliveries to the same accounts do not deadlock.
	rcpts := slices.Clone(d.Recipients)
	slices.SortStableFunc(rcpts, func(a, b store.Recipient) int { return cmp.Compare(a.AccountID, b.AccountID) })
	// Once the body is being stored, the caller's cancellation no longer
	// applies: it must learn whether the message was stored, and a
	// commit cancelled half-way would leave that unknown.
	tctx := context.WithoutCancel(ctx)
	return s.runTx(tctx, "delivering", func(t *tx) error {
		if f := d.Fetched; f != nil {
			// First, so a message fetched before costs no work.
			_, err := t.Exec(tctx, `INSERT INTO fetch_seen (source_id, scope, id, fingerprint) VALUES ($1, $2, $3, $4)`,
				f.SourceID, f.Scope, f.ID, f.Fingerprint)
			if isForeignKeyViolation(err) {
				return notFound("fetch source %d", f.SourceID)
			} else if err != nil {
				return dbError("recording fetched message", err)
			}
		}
		body, err := s.writeBody(tctx, t, d.Body, false)
		if err != nil {
			return err
		}
		return retrySavepoint(tctx, t, func() error {
			for _, r := range rcpts {
				if err := s.deliverOne(tctx, t, r, body, date, now); err != nil {
					return err
				}
			}
			if d.Outbound != nil {
				return insertQueued(tctx, t, d.Outbound, body, date)
			}
			return nil
		})
	})
}

// deliverOne adds the message row of one recipient.
func (s *Store) deliverOne(ctx context.Context, t *tx, r store.Recipient, body storedBody, date, now time.Time) error {
	mb, uid, err := s.targetUID(ctx, t, r)
	if err != nil {
		return err
	}
	if err := fitsQuota(ctx, t, r.AccountID, body.Size); err != nil {
		return err
	}
	_, err = insertRow(ctx, t, mb, uid, newRow{bodyID: body.id, size: body.Size, dotLines: body.DotLines,
		date: date, flags: store.FormatFlags(r.Flags), uidl: r.UIDL, saved: now}, false)
	if err != nil {
		return err
	}
	t.event(store.Event{Kind: store.EventNew, AccountID: r.AccountID, MailboxID: mb.ID})
	return nil
}

// targetUID takes the next UID of the mailbox r names, creating the
// mailbox when r asks for it, or of INBOX when the named mailbox cannot be
// used (see store.Recipient). Taking the UID locks the mailbox row.
func (s *Store) targetUID(ctx context.Context, t *tx, r store.Recipient) (store.Mailbox, uint32, error) {
	name := store.CanonicalMailboxName(r.Mailbox)
	if name == "" || !store.ValidMailboxName(name) {
		name = store.InboxName
	}
	var mb store.Mailbox
	var uid uint32
	next := func(name string) error {
		return t.QueryRow(ctx, `UPDATE mailboxes SET uidnext = uidnext + 1 WHERE account_id = $1 AND name = $2
			RETURNING id, account_id, name, uidvalidity, uidnext - 1`, r.AccountID, name).
			Scan(&mb.ID, &mb.AccountID, &mb.Name, &mb.UIDValidity, &uid)
	}
	err := next(name)
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName && r.Create {
		var exists bool
		if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)`, r.AccountID).Scan(&exists); err != nil {
			return mb, 0, temporary("delivering", err)
		}
		if exists {
			// ON CONFLICT: another delivery may be creating it right now.
			if err := s.createParents(ctx, t, r.AccountID, name); err != nil {
				return mb, 0, err
			}
			validity, verr := s.nextUIDValidity(ctx, t)
			if verr != nil {
				return mb, 0, verr
			}
			if _, err := t.Exec(ctx, `INSERT INTO mailboxes (account_id, name, uidvalidity) VALUES ($1, $2, $3)
				ON CONFLICT DO NOTHING`, r.AccountID, name, validity); err != nil {
				return mb, 0, temporary("creating mailbox", err)
			}
			t.event(store.Event{Kind: store.EventMailboxes, AccountID: r.AccountID})
			err = next(name)
		}
	}
	if errors.Is(err, pgx.ErrNoRows) && name != store.InboxName {
		err = next(store.InboxName)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return mb, 0, notFound("account %d", r.AccountID)
	} else if err != nil {
		return mb, 0, temporary("delivering", err)
	}
	return mb, uid, nil
}
