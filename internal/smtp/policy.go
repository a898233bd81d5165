package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/mail"
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

// sendWindow is the window of Server.RecipientsPerHour.
const sendWindow = time.Hour

// sentThisHour returns what the session's account sent in the last hour,
// read once per transaction (store.SendLog): each RCPT adds the
// transaction's own recipients to it.
func (ss *session) sentThisHour() (int, error) {
	t := &ss.txn
	if !t.sentRead {
		n, err := ss.srv.SendLog.RecipientsSent(ss.ctx, ss.account.ID, time.Now().Add(-sendWindow))
		if err != nil {
			return 0, err
		}
		t.sent, t.sentRead = n, true
	}
	return t.sent, nil
}

// reserveSent counts a message's n recipients before it is accepted,
// unless they would take the account past its limit: errSendLimit.
// Concurrent sessions of the account each passed RCPT against the count
// before any of them sent; this check is atomic with the addition
// (store.SendLog.ReserveSent), so together they cannot pass the limit.
// With no limit it does nothing.
func (ss *session) reserveSent(n int) error {
	lim := ss.srv.RecipientsPerHour
	if lim <= 0 || ss.account == nil || ss.srv.SendLog == nil {
		return nil
	}
	now := time.Now()
	ok, err := ss.srv.SendLog.ReserveSent(ss.ctx, ss.account.ID, now, n, lim, now.Add(-sendWindow), now.Add(-sendWindow))
	if err != nil {
		ss.log.Warn("smtp: counting the recipients sent", "err", err)
		return err
	}
	if !ok {
		ss.log.Info("smtp: sending limit reached at DATA", "recipients", n, "per_hour", lim)
		return errSendLimit
	}
	return nil
}

// releaseSent gives back the n recipients reserveSent counted for a
// message that was then refused. A failure is logged: the limit then errs
// on the side of refusing, by that message.
func (ss *session) releaseSent(n int) {
	if ss.srv.RecipientsPerHour <= 0 || ss.account == nil || ss.srv.SendLog == nil {
		return
	}
	now := time.Now()
	if err := ss.srv.SendLog.RecordSent(ss.ctx, ss.account.ID, now, -n, now.Add(-sendWindow)); err != nil {
		ss.log.Warn("smtp: giving back the recipients counted", "err", err)
	}
}
