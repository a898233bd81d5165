package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// deliverCmd is the local delivery agent: it stores the message on stdin
// in the INBOX of every recipient and exits 0 only once that is durable.
// A mail system calling it relies on the exit code: anything it cannot
// classify as permanent is EX_TEMPFAIL, so mail is retried, never lost.
func (c *cli) deliverCmd(args []string) error {
	fs := newFlags("deliver", c.env)
	dir := c.dirFlag(fs)
	uidl := fs.String("uidl", "", "keep `X` as the POP3 unique-id (imports); 1-70 printable characters")
	rcpts, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rcpts) == 0 {
		return usagef("usage: pochta deliver [--uidl X] RCPT... < MESSAGE")
	}
	cfg, err := c.loadConfig(*dir, nil)
	if err != nil {
		return withCode(exitTempFail, err) // a broken config must not bounce mail
	}
	st, err := c.openStore(cfg, c.adminLogger())
	if err != nil {
		return withCode(exitTempFail, err)
	}
	defer st.Close()

	recipients, err := c.resolve(st, rcpts, *uidl)
	if err != nil {
		return err
	}
	body := &sizeLimit{r: c.stdin, left: int64(cfg.Limits.MaxMessageSize)}
	err = st.Deliver(c.ctx, store.Delivery{Recipients: recipients, Body: body})
	switch {
	case err == nil:
		return nil
	case body.exceeded:
		return withCode(exitUnavailable, fmt.Errorf("deliver: message larger than limits.max_message_size (%d bytes)", cfg.Limits.MaxMessageSize))
	case *uidl != "" && (errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrExists)):
		return withCode(exitDataErr, fmt.Errorf("deliver: --uidl %q: %w", *uidl, err))
	}
	return withCode(exitTempFail, fmt.Errorf("deliver: %w", err))
}

// resolve maps recipient addresses (user@domain, any case) to accounts.
// Every recipient is checked before anything is stored: one unknown
// recipient fails the whole delivery with EX_NOUSER.
func (c *cli) resolve(st store.Directory, rcpts []string, uidl string) ([]store.Recipient, error) {
	var out []store.Recipient
	var unknown []string
	seen := map[int64]bool{}
	for _, r := range rcpts {
		addr, err := checkAddress(r)
		if err != nil {
			unknown = append(unknown, r)
			continue
		}
		acct, err := st.Account(c.ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, r)
			continue
		}
		if err != nil {
			return nil, withCode(exitTempFail, fmt.Errorf("deliver: looking up %s: %w", addr, err))
		}
		if !seen[acct.ID] { // the same mailbox named twice gets one copy
			seen[acct.ID] = true
			out = append(out, store.Recipient{AccountID: acct.ID, UIDL: uidl})
		}
	}
	if len(unknown) > 0 {
		return nil, withCode(exitNoUser, fmt.Errorf("deliver: unknown recipient: %s (nothing delivered)", strings.Join(unknown, ", ")))
	}
	return out, nil
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
