package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/mail"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
)

// Submission policy: which From: header an account may write, and how
// many recipients it may send to per hour.

var (
	errFromNotOwned = reply(550, 5, 7, 1, "From: header address not owned by the authenticated user")
	errBadFrom      = reply(550, 5, 6, 0, "Malformed From: header field")
	errSendLimit    = reply(451, 4, 7, 1, "Sending limit reached (recipients per hour): try again later")
)

// checkFrom reads the header section of a submitted message and refuses
// it unless every From: address belongs to the account (Resolver.Owns:
// its own, its plus-addresses, aliases including it). A message without
// From: passes. It returns the message to deliver, unchanged.
func (ss *session) checkFrom(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 4096)
	h, err := message.ReadHeader(br, maxCompleteHeader)
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		return nil, err
	case err != nil:
		// The body reader's failure must reach the store, which then
		// stores nothing.
		return io.MultiReader(bytes.NewReader(h), errReader{err}), nil
	}
	m, err := mail.ReadMessage(bytes.NewReader(h))
	if err != nil {
		return nil, errBadFrom
	}
	addrs, err := m.Header.AddressList("From")
	switch {
	case errors.Is(err, mail.ErrHeaderNotPresent):
		return io.MultiReader(bytes.NewReader(h), br), nil
	case err != nil:
		return nil, errBadFrom
	}
	for _, a := range addrs {
		owns, err := ss.srv.Resolver.Owns(ss.ctx, *ss.account, a.Address)
		if err != nil {
			return nil, err
		}
		if !owns {
			ss.log.Info("smtp: From: header refused", "from_header", a.Address)
			return nil, errFromNotOwned
		}
	}
	return io.MultiReader(bytes.NewReader(h), br), nil
}

// sendLog counts each account's recipients over the last hour, for
// Server.RecipientsPerHour. It lives in the server process: a restart
// forgets it.
type sendLog struct {
	mu       sync.Mutex
	accounts map[int64][]sent
}

type sent struct {
	at time.Time
	n  int
}

const sendWindow = time.Hour

// count returns the recipients account sent to in the hour before now,
// dropping older entries.
func (l *sendLog) count(account int64, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	entries := l.accounts[account]
	i := 0
	for i < len(entries) && !entries[i].at.After(now.Add(-sendWindow)) {
		i++
	}
	entries = entries[i:]
	if len(entries) == 0 {
		delete(l.accounts, account)
		return 0
	}
	l.accounts[account] = entries
	total := 0
	for _, e := range entries {
		total += e.n
	}
	return total
}

// add records n recipients sent at now.
func (l *sendLog) add(account int64, now time.Time, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.accounts == nil {
		l.accounts = map[int64][]sent{}
	}
	l.accounts[account] = append(l.accounts[account], sent{now, n})
}
