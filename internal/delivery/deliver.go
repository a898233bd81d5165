package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Message is one message to store for local accounts and to queue for
// remote recipients.
type Message struct {
	// From is the envelope sender (reverse-path); "" is the null sender.
	From   string
	Local  []store.Account
	Remote []store.QueueRecipient
	// ReturnPath adds "Return-Path: <From>" to the local copies (RFC 5321
	// section 4.4: the final delivery records the reverse-path).
	ReturnPath bool
	// Trace, when not nil, adds a Received header field (local and remote
	// copies alike).
	Trace *Trace
	// DSN parameters of the transaction (RFC 3461), kept with queued mail.
	DSNReturn, DSNEnvelopeID string
	SMTPUTF8                 bool
	// UIDL is kept as the POP3 unique-id of every local copy (imports).
	UIDL string
	Body io.Reader
	// Date is the arrival time; zero means now.
	Date time.Time
}

// Deliverer stores messages through a store.Deliverer.
type Deliverer struct {
	Store store.Deliverer
	// Hostname names this server in Received header fields.
	Hostname string
}

// Deliver stores m durably for every recipient, or stores nothing and
// returns an error (ErrOverQuota when a mailbox is full, an error wrapping
// store.ErrTemporary for engine trouble, or the body reader's error).
func (d *Deliverer) Deliver(ctx context.Context, m Message) error {
	if len(m.Local) == 0 && len(m.Remote) == 0 {
		return errors.New("delivery: no recipients")
	}
	var prefix strings.Builder
	if m.ReturnPath && len(m.Local) > 0 {
		prefix.WriteString(ReturnPath(m.From))
	}
	localOnly := int64(prefix.Len())
	if m.Trace != nil {
		prefix.WriteString(m.Trace.Header(d.Hostname))
	}
	sd := store.Delivery{
		Body:         io.MultiReader(strings.NewReader(prefix.String()), m.Body),
		InternalDate: m.Date,
	}
	for _, a := range m.Local {
		sd.Recipients = append(sd.Recipients, store.Recipient{AccountID: a.ID, UIDL: m.UIDL})
	}
	if len(m.Remote) > 0 {
		sd.Outbound = &store.Envelope{
			From: m.From, Recipients: m.Remote, LocalPrefix: localOnly,
			DSNReturn: m.DSNReturn, DSNEnvelopeID: m.DSNEnvelopeID, SMTPUTF8: m.SMTPUTF8,
		}
	}
	err := d.Store.Deliver(ctx, sd)
	if errors.Is(err, store.ErrQuota) {
		return fmt.Errorf("%w: %w", ErrOverQuota, err)
	}
	return err
}

// CheckQuota reports ErrOverQuota when a message of size octets (0 when
// unknown) would not fit in the account's quota as it stands. The store
// checks again, atomically, when the message is stored.
func CheckQuota(a store.Account, size int64) error {
	if a.Quota > 0 && a.Used+size > a.Quota {
		return fmt.Errorf("%w: %s", ErrOverQuota, a.Address)
	}
	return nil
}

// ReturnPath is the Return-Path header field for a reverse-path.
func ReturnPath(from string) string {
	return "Return-Path: <" + headerAddr(from) + ">\r\n"
}

// NewID returns a random transaction id for Received fields and logs.
func NewID() string {
	var b [8]byte
	rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
