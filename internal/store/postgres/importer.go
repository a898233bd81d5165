package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

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
	err = s.withTx(ctx, "importing mailbox", func(t *tx) error {
		m, err = mailboxWhere(ctx, t, fmt.Sprintf("%q", name), `account_id = $1 AND name = $2 FOR UPDATE`, accountID, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if err := s.insertMailbox(ctx, t, accountID, name, im.SpecialUse, im.UIDValidity); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if im.UIDValidity != 0 && m.UIDNext == 1 && m.UIDValidity != im.UIDValidity {
				if _, err := t.Exec(ctx, `UPDATE mailboxes SET uidvalidity = $1, modseq = modseq + 1 WHERE id = $2`,
					im.UIDValidity, m.ID); err != nil {
					return temporary("importing mailbox", err)
				}
			}
			if m.SpecialUse == "" && im.SpecialUse != "" {
				if _, err := t.Exec(ctx, `UPDATE mailboxes SET special_use = $1 WHERE id = $2`, im.SpecialUse, m.ID); err != nil {
					return temporary("importing mailbox", err)
				}
			}
		}
		if im.UIDValidity != 0 {
			// Keep the UIDVALIDITY sequence above the source's values
			// (when they are plausible clock values), so a mailbox created
			// later never repeats one.
			if _, err := t.Exec(ctx, `UPDATE uidvalidity_seq SET last = $1 WHERE last < $1 AND $1 <= $2`,
				int64(im.UIDValidity), s.now().Unix()); err != nil {
				return temporary("importing mailbox", err)
			}
			if im.UIDNext > 1 {
				if _, err := t.Exec(ctx, `UPDATE mailboxes SET uidnext = greatest(uidnext, $1)
					WHERE account_id = $2 AND name = $3 AND uidvalidity = $4`,
					int64(im.UIDNext), accountID, name, int64(im.UIDValidity)); err != nil {
					return temporary("importing mailbox", err)
				}
			}
			if im.ModSeq > 0 {
				if _, err := t.Exec(ctx, `UPDATE mailboxes SET modseq = greatest(modseq, $1),
					expunged_floor = greatest(expunged_floor, $1) WHERE account_id = $2 AND name = $3 AND uidvalidity = $4`,
					int64(im.ModSeq), accountID, name, int64(im.UIDValidity)); err != nil {
					return temporary("importing mailbox", err)
				}
			}
		}
		if m, err = mailboxByName(ctx, t, accountID, name); err != nil {
			return err
		}
		t.event(store.Event{Kind: store.EventMailboxes, AccountID: accountID, MailboxID: m.ID})
		return nil
	})
	if err != nil {
		return store.Mailbox{}, err
	}
	return m, nil
}

// ImportMessages stores the messages not imported before in one
// transaction: each body streamed into its chunks, then its row.
func (s *Store) ImportMessages(ctx context.Context, mailboxID int64, msgs []store.ImportMessage) ([]store.ImportedMessage, error) {
	if err := store.CheckImport(msgs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := make([]store.ImportedMessage, len(msgs))
	err := s.runTx(ctx, "importing messages", func(t *tx) error {
		mb, err := lockMailbox(ctx, t, mailboxID)
		if err != nil {
			return err
		}
		keys := make([]string, len(msgs))
		for i, m := range msgs {
			keys[i] = m.Key
		}
		rows, _ := t.Query(ctx, `SELECT key, uid FROM import_keys WHERE mailbox_id = $1 AND key = ANY($2)`,
			mailboxID, keys)
		known, err := scanImportKeys(rows)
		if err != nil {
			return err
		}
		im, err := s.newImport(ctx, t, mb, msgs)
		if err != nil {
			return err
		}
		added := 0
		for i, m := range msgs {
			if uid, ok := known[m.Key]; ok {
				res[i] = store.ImportedMessage{Skipped: true, UID: uid}
				continue
			}
			r, err := im.one(ctx, m)
			if err != nil {
				return err
			}
			res[i] = r
			if r.Err == nil {
				known[m.Key] = r.UID
				added++
			}
		}
		if err := im.raiseUIDNext(ctx); err != nil {
			return err
		}
		if added > 0 {
			t.event(store.Event{Kind: store.EventNew, AccountID: mb.AccountID, MailboxID: mailboxID})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// importRun is one ImportMessages transaction. It keeps the statements
// per message few, as each is a round trip, and a round trip on a busy
// machine waits for both processes to be scheduled (a copy of 100,000
// messages took most of an hour with six per message): which of the
// given UIDs the mailbox holds is asked once, the mailbox's UIDNEXT is
// raised once for the UIDs kept (before a UID is taken from it, and at
// the end), and a body of one chunk is read before anything is written,
// so it needs no savepoint to roll back a failed read.
type importRun struct {
	s     *Store
	t     *tx
	mb    store.Mailbox
	taken map[uint32]bool // UIDs the mailbox holds
	next  int64           // UIDNEXT the kept UIDs need (0: none)
}

func (s *Store) newImport(ctx context.Context, t *tx, mb store.Mailbox, msgs []store.ImportMessage) (*importRun, error) {
	im := &importRun{s: s, t: t, mb: mb, taken: map[uint32]bool{}}
	var given []int64
	for _, m := range msgs {
		if m.UID != 0 && m.UID != math.MaxUint32 {
			given = append(given, int64(m.UID))
		}
	}
	if len(given) == 0 {
		return im, nil
	}
	rows, _ := t.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 AND uid = ANY($2)`, mb.ID, given)
	var uid uint32
	if _, err := pgx.ForEachRow(rows, []any{&uid}, func() error { im.taken[uid] = true; return nil }); err != nil {
		return nil, temporary("importing messages", err)
	}
	return im, nil
}

// raiseUIDNext raises the mailbox's UIDNEXT above the UIDs kept so far.
func (im *importRun) raiseUIDNext(ctx context.Context) error {
	if im.next == 0 {
		return nil
	}
	if _, err := im.t.Exec(ctx, `UPDATE mailboxes SET uidnext = greatest(uidnext, $1) WHERE id = $2`,
		im.next, im.mb.ID); err != nil {
		return temporary("importing messages", err)
	}
	im.next = 0
	return nil
}

// one stores one message; a failure to read its body is its result's
// Err, and the rest goes on.
func (im *importRun) one(ctx context.Context, m store.ImportMessage) (store.ImportedMessage, error) {
	s, t, mb := im.s, im.t, im.mb
	rc, err := m.Open()
	if err != nil {
		return store.ImportedMessage{Err: err}, nil
	}
	defer rc.Close()
	body, err := im.body(ctx, rc)
	var re store.ReadError
	if errors.As(err, &re) {
		return store.ImportedMessage{Err: err}, nil
	} else if err != nil {
		return store.ImportedMessage{}, err
	}
	uid := m.UID
	if uid == math.MaxUint32 || im.taken[uid] {
		uid = 0
	}
	if uid == 0 {
		if err := im.raiseUIDNext(ctx); err != nil {
			return store.ImportedMessage{}, err
		}
		if uid, _, err = reserveUIDs(ctx, t, mb.ID, 1); err != nil {
			return store.ImportedMessage{}, err
		}
	} else {
		im.next = max(im.next, int64(uid)+1)
	}
	im.taken[uid] = true
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
	uidl, err := insertRow(ctx, t, mb, uid, newRow{bodyID: body.id, size: body.Size, dotLines: body.DotLines,
		date: date, flags: store.FormatFlags(flags), uidl: m.UIDL, saved: s.now()}, true)
	if err != nil {
		return store.ImportedMessage{}, err
	}
	if _, err := t.Exec(ctx, `INSERT INTO import_keys (mailbox_id, key, uid) VALUES ($1, $2, $3)`,
		mb.ID, m.Key, int64(uid)); err != nil {
		return store.ImportedMessage{}, temporary("importing messages", err)
	}
	return store.ImportedMessage{UID: uid, UIDL: uidl, Size: body.Size}, nil
}

// body stores a message's body. One of a chunk is read whole first; a
// larger one streams under a savepoint, rolled back when reading it fails
// (a store.ReadError) so the chunks written are undone.
func (im *importRun) body(ctx context.Context, r io.Reader) (storedBody, error) {
	head, err := io.ReadAll(io.LimitReader(r, chunkSize+1))
	if err != nil {
		return storedBody{}, store.ReadError{Err: err}
	}
	if len(head) <= chunkSize {
		return im.s.writeBody(ctx, im.t, bytes.NewReader(head), false)
	}
	if _, err := im.t.Exec(ctx, `SAVEPOINT import_body`); err != nil {
		return storedBody{}, temporary("importing messages", err)
	}
	body, err := im.s.writeBody(ctx, im.t, io.MultiReader(bytes.NewReader(head), r), false)
	var re store.ReadError
	if errors.As(err, &re) {
		if _, err := im.t.Exec(ctx, `ROLLBACK TO SAVEPOINT import_body`); err != nil {
			return storedBody{}, temporary("importing messages", err)
		}
	}
	return body, err
}

// ImportedKeys lists the keys imported into a mailbox with their UIDs.
func (s *Store) ImportedKeys(ctx context.Context, mailboxID int64) (map[string]uint32, error) {
	rows, _ := s.pool.Query(ctx, `SELECT key, uid FROM import_keys WHERE mailbox_id = $1`, mailboxID)
	return scanImportKeys(rows)
}

// scanImportKeys reads import keys and their UIDs.
func scanImportKeys(rows pgx.Rows) (map[string]uint32, error) {
	out := map[string]uint32{}
	var k string
	var uid uint32
	if _, err := pgx.ForEachRow(rows, []any{&k, &uid}, func() error { out[k] = uid; return nil }); err != nil {
		return nil, temporary("reading import keys", err)
	}
	return out, nil
}

// RecordImported adds keys to a mailbox's record in one statement.
func (s *Store) RecordImported(ctx context.Context, mailboxID int64, keys map[string]uint32) error {
	ks := make([]string, 0, len(keys))
	uids := make([]int64, 0, len(keys))
	for k, uid := range keys {
		if err := store.CheckImportKey(k); err != nil {
			return err
		}
		ks, uids = append(ks, k), append(uids, int64(uid))
	}
	return s.withTx(ctx, "recording import keys", func(t *tx) error {
		if _, err := lockMailbox(ctx, t, mailboxID); err != nil {
			return err
		}
		if _, err := t.Exec(ctx, `INSERT INTO import_keys (mailbox_id, key, uid)
			SELECT $1, k, u FROM unnest($2::text[], $3::bigint[]) AS r(k, u) ON CONFLICT DO NOTHING`,
			mailboxID, ks, uids); err != nil {
			return temporary("recording import keys", err)
		}
		return nil
	})
}

// UIDLs maps every UID of a mailbox to its POP3 unique-id.
func (s *Store) UIDLs(ctx context.Context, mailboxID int64) (map[uint32]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT uid, uidl FROM messages WHERE mailbox_id = $1`, mailboxID)
	out := map[uint32]string{}
	var uid uint32
	var uidl string
	if _, err := pgx.ForEachRow(rows, []any{&uid, &uidl}, func() error { out[uid] = uidl; return nil }); err != nil {
		return nil, temporary("reading UIDLs", err)
	}
	return out, nil
}
