package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
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
	// Mailbox is the local mailbox for the local copies, created when
	// missing; "" is INBOX, or where the filter step puts them (a
	// message for a named mailbox is not filtered).
	Mailbox string
	// Fetched is recorded with the message (the fetcher's remote id, see
	// store.FetchMark); a message recorded before fails with
	// store.ErrExists and is not stored again.
	Fetched *store.FetchMark
	Body    io.Reader
	// Date is the arrival time; zero means now.
	Date time.Time
	// duplicates are recorded with the local copies (Sieve duplicate).
	duplicates []store.DuplicateRecord
	// LocalTo is the envelope recipient that reached each local account
	// (by account id), for filters and plus-address folders; an account
	// missing from it is taken as reached by its own address.
	LocalTo map[int64]string
}

// Deliverer stores messages through a store.Deliverer.
type Deliverer struct {
	Store store.Deliverer
	// Hostname names this server in Received header fields.
	Hostname string

	// Filter, when not nil, runs for every local account before the
	// commit and decides where its copies go (see filter.go).
	Filter Filter
	// PlusFolders keeps mail for user+tag@domain in the account's
	// mailbox "tag" when it exists (INBOX otherwise); Delimiters are the
	// characters that start a tag, as in Resolver.
	PlusFolders bool
	Delimiters  string
	// Resolver resolves redirect targets: local accounts get their copy
	// in the same transaction, the rest is queued. Nil queues them all.
	Resolver *Resolver
	// Replies records automatic replies; without it none are sent.
	Replies ReplyClaimer
	// Duplicates records the ids of Sieve duplicate tests once a message
	// is delivered; without it none are, and no message is a duplicate.
	Duplicates DuplicateRecorder
	// Marks records fetched messages a filter discarded (Message.Fetched);
	// without it they are kept in INBOX instead.
	Marks FetchMarker
	// MaxHeader bounds the header section the filter step reads
	// (DefaultMaxHeader when 0); past it the message is kept in INBOX.
	MaxHeader int
	Logger    *slog.Logger
	Now       func() time.Time // the clock of reply periods; nil = time.Now

	// readers are the filter step's message readers, kept between
	// deliveries (16 KiB each, a third of what the step allocated).
	readers sync.Pool
}

// Deliver stores m durably for every recipient, or stores nothing and
// returns an error (ErrOverQuota when a mailbox is full, an error wrapping
// store.ErrTemporary for engine trouble, or the body reader's error).
// With the filter step (Filter, PlusFolders) the local copies go where it
// decides; a Sieve redirect to a remote address is queued before, in a
// transaction of its own (a failure after it may send it twice, never
// lose the message), and vacation replies after the commit.
func (d *Deliverer) Deliver(ctx context.Context, m Message) error {
	return d.deliver(ctx, m, nil)
}

// DeliverBatch delivers ms as Deliver delivers each, with every message's
// local copies stored in one store transaction (store.DeliverBatch), in
// the order of ms: a mailbox's UIDs follow it. errs[i] is ms[i]'s outcome
// (nil once it is durable); one that fails leaves the others stored.
// A message that needs a transaction of its own (a Sieve redirect to a
// remote address, a copy with an edited header) stores what came before
// it first, so the order holds. Automatic replies go once a message's
// copies are stored. The bodies are read one after another, each before
// the next, and all before the commit.
func (d *Deliverer) DeliverBatch(ctx context.Context, ms []Message) (errs []error) {
	b := &batch{d: d, errs: make([]error, len(ms))}
	for i, m := range ms {
		b.cur = i
		if err := d.deliver(ctx, m, b); err != nil {
			b.errs[i] = err
		}
	}
	b.flush(ctx)
	return b.errs
}

// batch gathers the local copies of a DeliverBatch for one store
// transaction.
type batch struct {
	d    *Deliverer
	errs []error
	cur  int // the message being prepared
	ds   []store.Delivery
	// at is the message of each delivery, after what runs once it is
	// stored; done runs after the commit whatever its outcome (spools).
	at    []int
	after []func()
	done  []func()
}

// add queues the current message's delivery.
func (b *batch) add(sd store.Delivery, after func()) {
	b.ds, b.at, b.after = append(b.ds, sd), append(b.at, b.cur), append(b.after, after)
}

// flush stores what was added in one transaction.
func (b *batch) flush(ctx context.Context) {
	if len(b.ds) > 0 {
		for k, err := range b.d.Store.DeliverBatch(ctx, b.ds) {
			if err != nil {
				b.errs[b.at[k]] = storeError(err)
			} else if b.after[k] != nil {
				b.after[k]()
			}
		}
	}
	for _, f := range b.done {
		f()
	}
	b.ds, b.at, b.after, b.done = b.ds[:0], b.at[:0], b.after[:0], b.done[:0]
}

// deliver is Deliver, or with b not nil the preparation of one message of
// a DeliverBatch.
func (d *Deliverer) deliver(ctx context.Context, m Message, b *batch) error {
	if len(m.Local) == 0 && len(m.Remote) == 0 {
		return errors.New("delivery: no recipients")
	}
	if len(m.Local) > 0 && d.filtering() && m.Mailbox == "" {
		return d.deliverFiltered(ctx, m, b)
	}
	var rs []store.Recipient
	for _, a := range m.Local {
		rs = append(rs, store.Recipient{AccountID: a.ID, UIDL: m.UIDL, Mailbox: m.Mailbox, Create: m.Mailbox != ""})
	}
	if b != nil {
		b.add(d.delivery(m, rs, m.Body), nil)
		return nil
	}
	return d.store(ctx, m, rs, m.Body)
}

// store commits the local copies rs and m's remote recipients in one
// transaction.
func (d *Deliverer) store(ctx context.Context, m Message, rs []store.Recipient, body io.Reader) error {
	return storeError(d.Store.Deliver(ctx, d.delivery(m, rs, body)))
}

// delivery is the store's delivery of the local copies rs and m's remote
// recipients.
func (d *Deliverer) delivery(m Message, rs []store.Recipient, body io.Reader) store.Delivery {
	var prefix strings.Builder
	if m.ReturnPath && len(rs) > 0 {
		prefix.WriteString(ReturnPath(m.From))
	}
	localOnly := int64(prefix.Len())
	if m.Trace != nil {
		prefix.WriteString(m.Trace.Header(d.Hostname))
	}
	sd := store.Delivery{
		Body:         io.MultiReader(strings.NewReader(prefix.String()), body),
		InternalDate: m.Date,
		Recipients:   rs,
		Fetched:      m.Fetched,
		Duplicates:   m.duplicates,
	}
	if len(m.Remote) > 0 {
		sd.Outbound = &store.Envelope{
			From: m.From, Recipients: m.Remote, LocalPrefix: localOnly,
			DSNReturn: m.DSNReturn, DSNEnvelopeID: m.DSNEnvelopeID, SMTPUTF8: m.SMTPUTF8,
		}
	}
	return sd
}

// storeError is the store's error as Deliver reports it.
func storeError(err error) error {
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
