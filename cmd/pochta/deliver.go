package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// deliverCmd is the local delivery agent: it stores the message on stdin
// in the INBOX of every recipient and exits 0 only once that is durable.
// A mail system calling it relies on the exit code: anything it cannot
// classify as permanent is EX_TEMPFAIL, so mail is retried, never lost.
// Recipients are resolved as SMTP resolves them (internal/delivery):
// aliases, plus-addressing, catch-alls, quotas.
func (c *cli) deliverCmd(args []string) error {
	fs := newFlags("deliver", c.env)
	dir := c.dirFlag(fs)
	uidl := fs.String("uidl", "", "keep `X` as the POP3 unique-id (imports); 1-70 printable characters")
	from := fs.String("f", "", "envelope `sender`: recorded as Return-Path (none when not given)")
	rcpts, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rcpts) == 0 {
		return usagef("usage: pochta deliver [-f SENDER] [--uidl X] RCPT... < MESSAGE")
	}
	cfg, err := c.loadConfig(*dir, nil)
	if err != nil {
		return withCode(exitTempFail, err) // a broken config must not bounce mail
	}
	// Not openStoreRecovering: a mail system runs one deliver per
	// message, and the forced orphan sweep costs a read of every body
	// name. The store's own sweep runs when due, and serve's start
	// forces it (docs/RELIABILITY.md, "Orphans").
	st, err := c.openStore(cfg, c.adminLogger())
	if err != nil {
		return withCode(exitTempFail, err)
	}
	defer st.Close()

	msg, err := c.resolve(newResolver(cfg, st), rcpts)
	if err != nil {
		return err
	}
	body := &sizeLimit{r: c.stdin, left: int64(cfg.Limits.MaxMessageSize)}
	msg.Body, msg.UIDL = body, *uidl
	if *from != "" {
		msg.From, msg.ReturnPath = *from, true
	}
	d, err := newDeliverer(cfg, st, c.adminLogger())
	if err != nil {
		return withCode(exitTempFail, err) // a broken config must not bounce mail
	}
	err = d.Deliver(c.ctx, msg)
	switch {
	case err == nil:
		return nil
	case body.exceeded:
		return withCode(exitUnavailable, fmt.Errorf("deliver: message larger than limits.max_message_size (%d bytes)", cfg.Limits.MaxMessageSize))
	case errors.Is(err, delivery.ErrOverQuota):
		return withCode(quotaExit(cfg), fmt.Errorf("deliver: %w (nothing delivered)", err))
	case errors.Is(err, delivery.ErrRejected):
		return withCode(exitNoPerm, fmt.Errorf("deliver: %w", err))
	case *uidl != "" && (errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrExists)):
		return withCode(exitDataErr, fmt.Errorf("deliver: --uidl %q: %w", *uidl, err))
	}
	return withCode(exitTempFail, fmt.Errorf("deliver: %w", err))
}

func quotaExit(cfg *config.Config) int {
	if cfg.Delivery.QuotaTemporary {
		return exitTempFail
	}
	return exitUnavailable
}

// resolve maps recipient addresses to accounts (and remote alias
// targets). Every recipient is checked before anything is stored: one
// unknown recipient fails the whole delivery with EX_NOUSER.
func (c *cli) resolve(r *delivery.Resolver, rcpts []string) (delivery.Message, error) {
	var msg delivery.Message
	var unknown []string
	seen := map[int64]bool{}
	queued := map[string]bool{}
	for _, rcpt := range rcpts {
		res, err := r.Resolve(c.ctx, strings.TrimSpace(rcpt))
		switch {
		case errors.Is(err, delivery.ErrBadAddress), errors.Is(err, delivery.ErrNotLocal),
			errors.Is(err, delivery.ErrUnknownUser), errors.Is(err, delivery.ErrAliasLoop):
			unknown = append(unknown, rcpt)
			continue
		case err != nil:
			return msg, withCode(exitTempFail, fmt.Errorf("deliver: looking up %s: %w", rcpt, err))
		}
		for _, a := range res.Accounts {
			if !seen[a.ID] { // the same mailbox named twice gets one copy
				seen[a.ID] = true
				msg.Local = append(msg.Local, a)
				if msg.LocalTo == nil {
					msg.LocalTo = map[int64]string{}
				}
				msg.LocalTo[a.ID] = strings.TrimSpace(rcpt)
			}
		}
		for _, addr := range res.Remote {
			if !queued[addr] {
				queued[addr] = true
				msg.Remote = append(msg.Remote, store.QueueRecipient{Address: addr})
			}
		}
	}
	if len(unknown) > 0 {
		return msg, withCode(exitNoUser, fmt.Errorf("deliver: unknown recipient: %s (nothing delivered)", strings.Join(unknown, ", ")))
	}
	return msg, nil
}

// errTooLarge is what the engine sees when the message exceeds the limit:
// an error from the body reader, so it stores nothing.
var errTooLarge = errors.New("message exceeds limits.max_message_size")

// sizeLimit passes at most left bytes through and fails past them.
type sizeLimit struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (s *sizeLimit) Read(p []byte) (int, error) {
	if s.left < 0 {
		return 0, errTooLarge
	}
	// Read one byte more than allowed to tell "exactly the limit" from
	// "over it".
	if int64(len(p)) > s.left+1 {
		p = p[:s.left+1]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if s.left < 0 {
		s.exceeded = true
		return 0, errTooLarge
	}
	return n, err
}
