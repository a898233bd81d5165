package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// LocalRecipients resolves a local address to the accounts that receive
// its mail (aliases followed). ErrNotFound means nobody does.
type LocalRecipients interface {
	Resolve(ctx context.Context, address string) ([]store.Account, error)
}

// StoreBouncer delivers bounces through the store: into the mailboxes of
// a local sender, onto the queue (from the null sender) for a remote one.
type StoreBouncer struct {
	Directory store.Directory
	Store     store.Deliverer
	// Local resolves local senders; nil means accounts only (no aliases).
	Local LocalRecipients
}

// Bounce delivers msg to rcpt.
func (b *StoreBouncer) Bounce(ctx context.Context, rcpt string, msg []byte) error {
	d := store.Delivery{Body: bytes.NewReader(msg)}
	_, err := b.Directory.Domain(ctx, domainOf(rcpt))
	switch {
	case errors.Is(err, store.ErrNotFound):
		d.Outbound = &store.Envelope{Recipients: []store.QueueRecipient{{Address: rcpt}}}
	case err != nil:
		return err
	default:
		accounts, err := b.resolve(ctx, rcpt)
		if errors.Is(err, store.ErrNotFound) {
			// A local sender that no longer exists: nobody to tell, and
			// bouncing the bounce is not allowed.
			return nil
		} else if err != nil {
			return err
		}
		for _, a := range accounts {
			d.Recipients = append(d.Recipients, store.Recipient{AccountID: a.ID})
		}
		// RFC 5321 4.4: final delivery records the (null) reverse-path.
		d.Body = io.MultiReader(strings.NewReader("Return-Path: <>\r\n"), bytes.NewReader(msg))
	}
	if err := b.Store.Deliver(ctx, d); err != nil {
		return fmt.Errorf("delivering bounce to %s: %w", rcpt, err)
	}
	return nil
}

func (b *StoreBouncer) resolve(ctx context.Context, rcpt string) ([]store.Account, error) {
	if b.Local != nil {
		return b.Local.Resolve(ctx, rcpt)
	}
	a, err := b.Directory.Account(ctx, rcpt)
	if err != nil {
		return nil, err
	}
	return []store.Account{a}, nil
}
