package delivery

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// Filter is the filter step: for each local account a message is
// delivered to, before anything is stored, it sees the envelope and the
// header section and decides where the account's copies go. The Sieve
// filter (SieveFilter) is one; tests use others.
type Filter interface {
	// Filter decides for one account. On error the step logs it and
	// keeps the message in INBOX, whatever the decision says: a broken
	// script never loses mail.
	Filter(ctx context.Context, in *FilterInput) (Decision, error)
}

// FilterInput is what a filter sees of one delivery to one account.
type FilterInput struct {
	Account store.Account
	From    string // envelope sender, "" for the null sender
	To      string // the envelope recipient that reached the account
	Header  *Header
	// Size returns the message's size; the first call reads the whole
	// message, so filters call it only when they need it.
	Size func() int64
	// Raw returns the first max octets of the message as received
	// (header and body); like Size it reads the whole message. Nil when
	// the body cannot be read.
	Raw func(max int) ([]byte, error)
	// Stored is set when the message is not arriving but stored already
	// (Refilter): a Sieve duplicate test is then false and records
	// nothing, as in Pigeonhole's sieve-filter, since a stored message's
	// id went on record with its own delivery.
	Stored bool
}

// Target is one copy to store for the account.
type Target struct {
	Mailbox string // "" = the default mailbox (INBOX, or the plus-address folder)
	Create  bool
	Flags   []string
	// Header, when not nil, replaces the message's header fields in this
	// copy (Sieve editheader): the fields with their line ends, without
	// the blank line; the body is stored as received.
	Header []byte
}

// Reply is an automatic reply (a vacation response) to send from the
// null sender once the message is stored, unless one with the same Key
// went to the account's sender within Period.
type Reply struct {
	Key     string
	Period  time.Duration
	To      string
	Message []byte // complete, CRLF line endings
}

// Decision is where one account's copies go: Targets empty means
// discarded.
type Decision struct {
	Targets   []Target
	Redirects []string
	// RedirectHeader, when not nil, replaces the header fields of the
	// redirected copies, as Target.Header does.
	RedirectHeader []byte
	Replies        []Reply
	// Duplicates are the ids the account's duplicate tests saw (RFC
	// 7352), recorded once the message is delivered.
	Duplicates []sieve.Duplicate
	// Reject refuses the message for the account with this reason
	// (RFC 5429): in the SMTP reply when no one else gets the message,
	// else in a notice to the sender.
	Reject string
}

// ErrRejected is the error of a message every recipient's script
// rejected; the *RejectedError holding it has the reason.
var ErrRejected = errors.New("delivery: rejected by the recipient's filter")

// RejectedError carries a script's reject reason.
type RejectedError struct{ Reason string }

func (e *RejectedError) Error() string { return ErrRejected.Error() + ": " + e.Reason }
func (e *RejectedError) Unwrap() error { return ErrRejected }

// WireText is the reason fit for an SMTP reply line: printable ASCII on
// one line, at most 200 octets.
func (e *RejectedError) WireText() string {
	var b strings.Builder
	for _, r := range oneLine(e.Reason) {
		if b.Len() >= 200 {
			break
		}
		if r >= 0x20 && r < 0x7f {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
	}
	if b.Len() == 0 {
		return "Rejected by the recipient's filter"
	}
	return b.String()
}

// Keep is the decision of no filter: one copy in the default mailbox.
var Keep = Decision{Targets: []Target{{}}}

// FetchMarker records the remote ids of fetched messages that were
// discarded (store.FetchSources).
type FetchMarker interface {
	AddFetchedIDs(ctx context.Context, sourceID int64, ids []store.FetchedID) error
}

// DuplicateRecorder records the ids Sieve duplicate tests saw
// (store.Sieve).
type DuplicateRecorder interface {
	RecordDuplicate(ctx context.Context, accountID int64, key string, now, until time.Time, refresh bool, keep int) error
}

// ReplyClaimer records automatic replies (store.Sieve).
type ReplyClaimer interface {
	ClaimVacationReply(ctx context.Context, accountID int64, key string, now, until time.Time) (bool, error)
}

// DefaultMaxHeader bounds the header section filters see.
const DefaultMaxHeader = 256 << 10

// RedirectedHeader marks a copy a Sieve redirect sent on, naming the
// account: a message coming back with the account's own mark is kept
// instead of being redirected again (RFC 5228 section 4.2 loop control).
const RedirectedHeader = "X-Sieve-Redirected-From"

func (d *Deliverer) filtering() bool { return d.Filter != nil || d.PlusFolders }

func (d *Deliverer) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// redirect is one account's redirects.
type redirect struct {
	account store.Account
	to      []store.QueueRecipient
	header  []byte // edited header fields, nil = as received
}

// pendingReply is a Reply of one account.
type pendingReply struct {
	accountID int64
	Reply
}

// deliverFiltered is Deliver with the filter step; with b not nil, the
// local copies are added to the batch (see DeliverBatch).
func (d *Deliverer) deliverFiltered(ctx context.Context, m Message, b *batch) error {
	max := d.MaxHeader
	if max <= 0 {
		max = DefaultMaxHeader
	}
	// The reader goes back to the pool when the spool is closed: once
	// the store has read the message (after the commit, in a batch).
	br, _ := d.readers.Get().(*bufio.Reader)
	if br == nil {
		br = bufio.NewReaderSize(m.Body, 16<<10)
	} else {
		br.Reset(m.Body)
	}
	sp := &spool{rest: br, release: func() {
		br.Reset(nil)
		d.readers.Put(br)
	}}
	head, err := message.ReadHeader(br, max)
	sp.head = head
	var h *Header
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		d.log().Warn("delivery: header section too large to filter; kept in INBOX", "octets", len(head))
	case err != nil:
		sp.close()
		return err
	default:
		h = ParseHeader(head)
	}
	batched := false // then the batch closes it, after reading it at its commit
	defer func() {
		if !batched {
			sp.close()
		}
	}()

	var rs []store.Recipient
	var edited []editedCopies // copies whose header a script changed
	var redirects []redirect
	var replies []pendingReply
	var dups []pendingDuplicate
	var rejects []rejection
	for _, a := range m.Local {
		to := m.LocalTo[a.ID]
		if to == "" {
			to = a.Address
		}
		def := d.plusFolder(a, to)
		dec := Keep
		if d.Filter != nil && h != nil {
			got, err := d.Filter.Filter(ctx, &FilterInput{Account: a, From: m.From, To: to, Header: h, Size: sp.Size, Raw: sp.Raw})
			if err != nil {
				d.log().Warn("delivery: filter failed; kept in INBOX", "account", a.Address, "err", err)
				def = ""
			} else {
				dec = got
			}
		}
		var fwd []store.QueueRecipient
		for _, addr := range dec.Redirects {
			if redirectedBefore(h, a) {
				d.log().Warn("delivery: redirect loop; kept instead", "account", a.Address, "to", addr)
				if !keeps(dec.Targets) { // redirect :copy kept it already
					dec.Targets = append(dec.Targets, Target{})
				}
				continue
			}
			local, remote, err := d.resolveRedirect(ctx, addr)
			if err != nil {
				return err
			}
			for _, b := range local {
				r := store.Recipient{AccountID: b.ID, Mailbox: store.InboxName}
				if dec.RedirectHeader != nil { // the header as the script edited it
					edited = appendEdited(edited, dec.RedirectHeader, b.ID, r)
					continue
				}
				rs = appendTarget(rs, b.ID, r)
			}
			fwd = append(fwd, remote...)
		}
		if len(fwd) > 0 {
			redirects = append(redirects, redirect{account: a, to: fwd, header: dec.RedirectHeader})
		}
		for i, t := range dec.Targets {
			r := store.Recipient{AccountID: a.ID, Mailbox: t.Mailbox, Create: t.Create, Flags: t.Flags}
			if r.Mailbox == "" {
				r.Mailbox = def
			}
			if r.Mailbox == "" {
				r.Mailbox = store.InboxName
			}
			if i == 0 {
				r.UIDL = m.UIDL // one copy only: UIDLs are unique in the account
			}
			if t.Header != nil {
				edited = appendEdited(edited, t.Header, a.ID, r)
				continue
			}
			rs = appendTarget(rs, a.ID, r)
		}
		for _, r := range dec.Replies {
			replies = append(replies, pendingReply{a.ID, r})
		}
		for _, dup := range dec.Duplicates {
			dups = append(dups, pendingDuplicate{a.ID, dup})
		}
		if dec.Reject != "" {
			rejects = append(rejects, rejection{a, to, dec.Reject})
		}
	}
	// Rejected by every recipient and stored nowhere: the reason goes in
	// the SMTP reply (or deliver's exit), nothing is stored.
	if len(rejects) == len(m.Local) && len(rs) == 0 && len(edited) == 0 && len(redirects) == 0 && len(m.Remote) == 0 && m.Fetched == nil {
		// Only a message received whole is refused for the script's
		// reason; one cut short fails as any delivery would.
		if _, err := io.Copy(io.Discard, sp.reader()); err != nil {
			return err
		}
		return &RejectedError{Reason: rejects[0].reason}
	}
	for _, r := range rejects {
		if n, ok := d.rejectionNotice(m, h, r); ok {
			replies = append(replies, n)
		}
	}

	// A fetched message is recorded with the first transaction that
	// stores anything: the local copies, else the last redirect, else
	// (all discarded) on its own.
	mainEmpty := len(rs) == 0 && len(m.Remote) == 0
	if mainEmpty && len(redirects) == 0 && len(edited) == 0 && m.Fetched != nil {
		if d.Marks == nil {
			d.log().Warn("delivery: a discarded fetched message cannot be recorded; kept in INBOX")
			rs = []store.Recipient{{AccountID: m.Local[0].ID, Mailbox: store.InboxName}}
			mainEmpty = false
		} else {
			if _, err := io.Copy(io.Discard, sp.reader()); err != nil {
				return err
			}
			err := d.Marks.AddFetchedIDs(ctx, m.Fetched.SourceID, []store.FetchedID{m.Fetched.FetchedID})
			if err == nil {
				d.recordDuplicates(ctx, dups)
				d.sendReplies(ctx, replies)
			}
			return err
		}
	}
	// A transaction of its own stores after what a batch holds so far:
	// the messages before this one keep their place.
	if b != nil && len(redirects)+len(edited) > 0 {
		b.flush(ctx)
	}
	// Redirected copies are queued first, each in its own transaction:
	// if storing the rest fails the sender tries again and a redirect may
	// go twice, but a message is never lost.
	for i, r := range redirects {
		var mark *store.FetchMark
		if mainEmpty && len(edited) == 0 && i == len(redirects)-1 {
			mark = m.Fetched
		}
		sp.readAll()
		prefix := RedirectedHeader + ": <" + headerAddr(r.account.Address) + ">\r\n"
		if m.Trace != nil {
			prefix += m.Trace.Header(d.Hostname)
		}
		err := d.Store.Deliver(ctx, store.Delivery{
			Body:         io.MultiReader(strings.NewReader(prefix), sp.withHeader(r.header)),
			InternalDate: m.Date,
			Outbound:     &store.Envelope{From: m.From, Recipients: r.to, SMTPUTF8: m.SMTPUTF8},
			Fetched:      mark,
		})
		if err != nil {
			return fmt.Errorf("delivery: queueing redirect for %s: %w", r.account.Address, err)
		}
		d.log().Info("delivery: redirected", "account", r.account.Address, "to", len(r.to))
	}
	// Copies with an edited header (Sieve editheader) are stored after
	// the redirects, one transaction per distinct header, before the
	// rest: a failure after one of them may store it twice when the
	// sender retries, never lose the message.
	for i, e := range edited {
		em := m
		em.Remote, em.Fetched = nil, nil
		if mainEmpty && i == len(edited)-1 {
			em.Fetched = m.Fetched
		}
		sp.readAll()
		if err := d.store(ctx, em, e.rs, sp.withHeader(e.header)); err != nil {
			return err
		}
	}
	if mainEmpty {
		// Every copy discarded: read the message anyway, so a client
		// that fails mid-way is told (and retries) as with any delivery.
		if _, err := io.Copy(io.Discard, sp.reader()); err != nil {
			return err
		}
		d.recordDuplicates(ctx, dups)
		d.sendReplies(ctx, replies)
		return nil
	}
	// The duplicate ids go in the local copies' transaction: recorded
	// only if they are stored, at no commit of their own.
	if d.Duplicates != nil {
		now := d.now()
		for _, dup := range dups {
			m.duplicates = append(m.duplicates, store.DuplicateRecord{AccountID: dup.accountID, Key: dup.Key,
				Now: now, Until: now.Add(dup.Period), Refresh: dup.Last, Keep: store.MaxDuplicates})
		}
	}
	if b != nil {
		batched = true
		b.done = append(b.done, sp.close)
		b.add(d.delivery(m, rs, sp.reader()), func() { d.sendReplies(ctx, replies) })
		return nil
	}
	if err := d.store(ctx, m, rs, sp.reader()); err != nil {
		return err
	}
	d.sendReplies(ctx, replies)
	return nil
}

// editedCopies are the copies that carry one edited header.
type editedCopies struct {
	header []byte
	rs     []store.Recipient
}

// appendEdited adds r to the copies with that header.
func appendEdited(es []editedCopies, header []byte, accountID int64, r store.Recipient) []editedCopies {
	for i := range es {
		if bytes.Equal(es[i].header, header) {
			es[i].rs = appendTarget(es[i].rs, accountID, r)
			return es
		}
	}
	return append(es, editedCopies{header: header, rs: []store.Recipient{r}})
}

// appendTarget adds r unless the account already has a copy in that
// mailbox (keep and fileinto "INBOX" store one copy, RFC 5228 2.10.3);
// the flags of both copies are merged.
func appendTarget(rs []store.Recipient, accountID int64, r store.Recipient) []store.Recipient {
	name := store.CanonicalMailboxName(r.Mailbox)
	for i := range rs {
		if rs[i].AccountID == accountID && store.CanonicalMailboxName(rs[i].Mailbox) == name {
			rs[i].Flags = append(rs[i].Flags, r.Flags...)
			rs[i].Create = rs[i].Create || r.Create
			return rs
		}
	}
	return append(rs, r)
}

// keeps reports whether one of the targets is the default mailbox.
func keeps(ts []Target) bool {
	for _, t := range ts {
		if t.Mailbox == "" {
			return true
		}
	}
	return false
}

// redirectedBefore reports whether the message carries a's own redirect
// mark.
func redirectedBefore(h *Header, a store.Account) bool {
	if h == nil {
		return false
	}
	for _, v := range h.Addresses(RedirectedHeader) {
		if v == a.Address {
			return true
		}
	}
	return false
}

// resolveRedirect splits a redirect address into local accounts (stored
// in their INBOX directly, without running their filters: no loop can
// form between local scripts) and remote ones for the queue.
func (d *Deliverer) resolveRedirect(ctx context.Context, addr string) ([]store.Account, []store.QueueRecipient, error) {
	if d.Resolver == nil {
		return nil, []store.QueueRecipient{{Address: addr}}, nil
	}
	res, err := d.Resolver.Resolve(ctx, addr)
	switch {
	case errors.Is(err, ErrNotLocal):
		return nil, []store.QueueRecipient{{Address: strings.ToLower(addr)}}, nil
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrBadAddress), errors.Is(err, ErrAliasLoop):
		d.log().Warn("delivery: redirect to an address that receives no mail; dropped", "to", addr, "err", err)
		return nil, nil, nil
	case err != nil:
		return nil, nil, err
	}
	var remote []store.QueueRecipient
	for _, r := range res.Remote {
		remote = append(remote, store.QueueRecipient{Address: r})
	}
	return res.Accounts, remote, nil
}

// plusFolder is the mailbox a plus-address names (user+Lists@ → Lists),
// or "" for INBOX. The store keeps mail in INBOX when no such mailbox
// exists: a tag creates nothing.
func (d *Deliverer) plusFolder(a store.Account, to string) string {
	if !d.PlusFolders || d.Delimiters == "" {
		return ""
	}
	local, _, err := SplitAddress(to)
	if err != nil {
		return ""
	}
	own := a.Address[:strings.LastIndexByte(a.Address, '@')]
	if len(local) <= len(own)+1 || !strings.EqualFold(local[:len(own)], own) ||
		!strings.ContainsRune(d.Delimiters, rune(local[len(own)])) {
		return ""
	}
	return local[len(own)+1:]
}

// pendingDuplicate is a duplicate id of one account.
type pendingDuplicate struct {
	accountID int64
	sieve.Duplicate
}

// recordDuplicates records the ids duplicate tests saw, once the message
// is delivered (RFC 7352 section 3), when no local copy was stored with
// them (all discarded or redirected). A failure is logged: the message
// went, and at worst a copy coming again is not taken for a duplicate.
func (d *Deliverer) recordDuplicates(ctx context.Context, dups []pendingDuplicate) {
	if len(dups) == 0 || d.Duplicates == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := d.now()
	for _, dup := range dups {
		if err := d.Duplicates.RecordDuplicate(ctx, dup.accountID, dup.Key, now, now.Add(dup.Period), dup.Last, store.MaxDuplicates); err != nil {
			d.log().Warn("delivery: duplicate id not recorded", "err", err)
		}
	}
}

// sendReplies queues the automatic replies whose claim succeeds. The
// message is stored already: a reply that cannot go is logged, not
// failed, and the caller's context no longer matters.
func (d *Deliverer) sendReplies(ctx context.Context, replies []pendingReply) {
	if len(replies) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := d.now()
	for _, r := range replies {
		if r.Key == "" { // a rejection notice: no period
			if err := d.Store.Deliver(ctx, d.replyDelivery(ctx, r)); err != nil {
				d.log().Warn("delivery: rejection notice not queued", "to", r.To, "err", err)
			}
			continue
		}
		if d.Replies == nil {
			d.log().Warn("delivery: vacation reply dropped: no reply store configured", "to", r.To)
			continue
		}
		ok, err := d.Replies.ClaimVacationReply(ctx, r.accountID, r.Key, now, now.Add(r.Period))
		if err != nil {
			d.log().Warn("delivery: vacation reply not sent", "to", r.To, "err", err)
			continue
		}
		if !ok {
			d.log().Debug("delivery: vacation reply already sent this period", "to", r.To)
			continue
		}
		err = d.Store.Deliver(ctx, d.replyDelivery(ctx, r))
		if err != nil {
			d.log().Warn("delivery: vacation reply not queued", "to", r.To, "err", err)
			continue
		}
		d.log().Info("delivery: vacation reply queued", "to", r.To)
	}
}

// replyDelivery is a reply's delivery: into the INBOX of a local sender
// (found through Resolver), else onto the queue from the null sender.
func (d *Deliverer) replyDelivery(ctx context.Context, r pendingReply) store.Delivery {
	sd := store.Delivery{Body: bytes.NewReader(r.Message)}
	local, remote, err := d.resolveRedirect(ctx, r.To)
	if err != nil || len(local)+len(remote) == 0 {
		remote = []store.QueueRecipient{{Address: r.To}}
		local = nil
	}
	for _, a := range local {
		sd.Recipients = append(sd.Recipients, store.Recipient{AccountID: a.ID})
	}
	if len(remote) > 0 {
		sd.Outbound = &store.Envelope{Recipients: remote}
	}
	return sd
}

// rejection is one account's reject.
type rejection struct {
	account store.Account
	to      string
	reason  string
}

// rejectionNotice tells the sender that one recipient's filter refused
// the message (RFC 5429 section 2.1, as a plain notice rather than an
// MDN), from the null sender; none goes to the null sender or to mail no
// one should auto-answer.
func (d *Deliverer) rejectionNotice(m Message, h *Header, r rejection) (pendingReply, bool) {
	if m.From == "" || !autoReplyable(strings.ToLower(m.From)) || (h != nil && automatic(h)) {
		return pendingReply{}, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", headerToken(d.Hostname))
	fmt.Fprintf(&b, "To: <%s>\r\n", headerAddr(m.From))
	subject := ""
	if h != nil {
		subject = strings.Join(h.Decoded("Subject"), " ")
	}
	fmt.Fprintf(&b, "Subject: %s\r\n", encodeWord("Rejected: "+subject))
	fmt.Fprintf(&b, "Date: %s\r\n", d.now().Format(time.RFC1123Z))
	if h != nil {
		if mid := oneLine(h.Get("Message-ID")); mid != "" {
			fmt.Fprintf(&b, "In-Reply-To: %s\r\n", mid)
		}
	}
	b.WriteString("Auto-Submitted: auto-replied (rejected)\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	var text bytes.Buffer
	w := quotedprintable.NewWriter(&text)
	fmt.Fprintf(w, "Your message to <%s> was rejected by the recipient's mail filter:\r\n\r\n%s\r\n", r.to,
		strings.ReplaceAll(strings.ReplaceAll(r.reason, "\r\n", "\n"), "\n", "\r\n"))
	w.Close()
	b.Write(text.Bytes())
	return pendingReply{r.account.ID, Reply{To: m.From, Message: []byte(b.String())}}, true
}
