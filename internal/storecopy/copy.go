// Package storecopy copies everything one storage engine holds into
// another, through the store interfaces only: `pochta migrate --to
// postgres` moves a SQLite installation into PostgreSQL with it. Every
// mailbox keeps its UIDVALIDITY and UIDNEXT and every message its UID,
// POP3 UIDL, flags and internal date (store.Importer), so IMAP and POP3
// clients notice nothing; each mailbox's record of imported keys goes
// along, so pochta import run again stores nothing twice.
package storecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Stats counts what Copy copied.
type Stats struct {
	Domains, Accounts, Aliases, Mailboxes, Messages, Scripts, Queued int
	Octets                                                           int64
}

// batch is how many messages one ImportMessages call (one transaction)
// carries; their bodies are streamed one at a time.
const batch = 100

// Copy copies src into dst, which must hold no domain yet (ErrExists
// otherwise: Copy never merges). Not copied: POP3 first-retrieval times
// (EXPIRE counts again from the next retrieval), fetch sources, and the
// queue's attempt counts (queued messages are queued again, with the
// recipients not yet delivered).
func Copy(ctx context.Context, src, dst store.Store, log *slog.Logger) (Stats, error) {
	var st Stats
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if ds, err := dst.Domains(ctx); err != nil {
		return st, err
	} else if len(ds) > 0 {
		return st, fmt.Errorf("storecopy: the destination already holds %d domains: %w", len(ds), store.ErrExists)
	}
	domains, err := src.Domains(ctx)
	if err != nil {
		return st, err
	}
	for _, d := range domains {
		if err := dst.AddDomain(ctx, d.Name); err != nil {
			return st, fmt.Errorf("domain %s: %w", d.Name, err)
		}
		st.Domains++
	}
	accounts, err := src.Accounts(ctx, "")
	if err != nil {
		return st, err
	}
	for _, a := range accounts {
		if err := copyAccount(ctx, src, dst, a, &st); err != nil {
			return st, fmt.Errorf("account %s: %w", a.Address, err)
		}
		log.Info("copied account", "account", a.Address)
	}
	aliases, err := src.ListAliases(ctx, "")
	if err != nil {
		return st, err
	}
	for _, al := range aliases {
		if err := dst.AddAlias(ctx, al.Address, al.Targets); err != nil {
			return st, fmt.Errorf("alias %s: %w", al.Address, err)
		}
		st.Aliases++
	}
	if err := copyQueue(ctx, src, dst, &st); err != nil {
		return st, fmt.Errorf("queue: %w", err)
	}
	return st, nil
}

func copyAccount(ctx context.Context, src, dst store.Store, a store.Account, st *Stats) error {
	na, err := dst.CreateAccount(ctx, a.Address, a.Credentials)
	if err != nil {
		return err
	}
	st.Accounts++
	if a.Quota > 0 {
		if err := dst.SetQuota(ctx, a.Address, a.Quota); err != nil {
			return err
		}
	}
	if !a.LastLogin.IsZero() {
		if err := dst.RecordLogins(ctx, map[string]time.Time{a.Address: a.LastLogin}); err != nil {
			return err
		}
	}
	boxes, err := src.ListMailboxes(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, mb := range boxes {
		if err := copyMailbox(ctx, src, dst, na.ID, mb, st); err != nil {
			return fmt.Errorf("mailbox %s: %w", mb.Name, err)
		}
	}
	// Subscriptions are names: set exactly the source's.
	want, err := src.Subscriptions(ctx, a.ID)
	if err != nil {
		return err
	}
	have, err := dst.Subscriptions(ctx, na.ID)
	if err != nil {
		return err
	}
	for _, name := range have {
		if err := dst.SetSubscribed(ctx, na.ID, name, false); err != nil {
			return err
		}
	}
	for _, name := range want {
		if err := dst.SetSubscribed(ctx, na.ID, name, true); err != nil {
			return err
		}
	}
	return copyScripts(ctx, src, dst, a.ID, na.ID, st)
}

// copyMailbox copies one mailbox with its UIDVALIDITY, UIDNEXT, UIDs and
// UIDLs, batch messages per transaction.
func copyMailbox(ctx context.Context, src, dst store.Store, accountID int64, mb store.Mailbox, st *Stats) error {
	nm, err := dst.ImportMailbox(ctx, accountID, store.ImportMailbox{Name: mb.Name, SpecialUse: mb.SpecialUse,
		UIDValidity: mb.UIDValidity, UIDNext: mb.UIDNext, ModSeq: mb.ModSeq})
	if err != nil {
		return err
	}
	if nm.UIDValidity != mb.UIDValidity {
		return fmt.Errorf("UIDVALIDITY %d became %d: %w", mb.UIDValidity, nm.UIDValidity, store.ErrExists)
	}
	st.Mailboxes++
	uidls, err := src.UIDLs(ctx, mb.ID)
	if err != nil {
		return err
	}
	for after := uint32(0); ; {
		msgs, err := src.ListMessages(ctx, mb.ID, store.MessageQuery{MinUID: after + 1, Limit: batch})
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			break
		}
		ims := make([]store.ImportMessage, len(msgs))
		for i, m := range msgs {
			uid := m.UID
			ims[i] = store.ImportMessage{Key: "copy " + strconv.FormatUint(uint64(uid), 10), UID: uid, UIDL: uidls[uid],
				Flags: m.Flags, InternalDate: m.InternalDate,
				Open: func() (io.ReadCloser, error) { return src.OpenMessage(ctx, mb.ID, uid) }}
		}
		res, err := dst.ImportMessages(ctx, nm.ID, ims)
		if err != nil {
			return err
		}
		for i, r := range res {
			m := msgs[i]
			switch {
			case r.Err != nil:
				return fmt.Errorf("UID %d: %w", m.UID, r.Err)
			case r.UID != m.UID || (r.UIDL != uidls[m.UID] && !r.Skipped):
				return fmt.Errorf("UID %d (UIDL %q) was stored as UID %d (UIDL %q)", m.UID, uidls[m.UID], r.UID, r.UIDL)
			}
			st.Messages++
			st.Octets += r.Size
		}
		after = msgs[len(msgs)-1].UID
	}
	// What was imported into the mailbox, so that an import run again
	// after the migration stores nothing twice (the messages' UIDs are
	// kept, so the record's are right).
	keys, err := src.ImportedKeys(ctx, mb.ID)
	if err != nil {
		return err
	}
	return dst.RecordImported(ctx, nm.ID, keys)
}

// copyScripts copies the account's Sieve scripts and which one is active.
func copyScripts(ctx context.Context, src, dst store.Store, from, to int64, st *Stats) error {
	scripts, err := src.SieveScripts(ctx, from)
	if err != nil {
		return err
	}
	for _, sc := range scripts {
		full, err := src.SieveScript(ctx, from, sc.Name)
		if err != nil {
			return err
		}
		if err := dst.PutSieveScript(ctx, to, sc.Name, full.Source); err != nil {
			return err
		}
		if sc.Active {
			if err := dst.ActivateSieveScript(ctx, to, sc.Name); err != nil {
				return err
			}
		}
		st.Scripts++
	}
	return nil
}

// copyQueue queues every queued message again for its recipients not yet
// delivered or given up.
func copyQueue(ctx context.Context, src, dst store.Store, st *Stats) error {
	queued, err := src.QueuedMessages(ctx)
	if err != nil {
		return err
	}
	for _, q := range queued {
		e := q.Envelope
		e.LocalPrefix = 0
		e.Recipients = nil
		for _, r := range q.Envelope.Recipients {
			if r.Status == store.RecipientPending {
				e.Recipients = append(e.Recipients, store.QueueRecipient{Address: r.Address, Notify: r.Notify, ORcpt: r.ORcpt})
			}
		}
		if len(e.Recipients) == 0 {
			continue
		}
		body, err := src.QueuedBody(ctx, q.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // sent meanwhile
		} else if err != nil {
			return err
		}
		err = dst.Deliver(ctx, store.Delivery{Body: body, InternalDate: q.Created, Outbound: &e})
		body.Close()
		if err != nil {
			return fmt.Errorf("queued message %d: %w", q.ID, err)
		}
		st.Queued++
	}
	return nil
}
