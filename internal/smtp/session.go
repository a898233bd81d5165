package smtp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// backend makes sessions for go-smtp (at HELO/EHLO, and again after
// STARTTLS, which forgets everything).
type backend struct {
	s    *Server
	mode Mode
}

func (b *backend) NewSession(gc *gosmtp.Conn) (gosmtp.Session, error) {
	c := connOf(gc.Conn())
	if c == nil {
		return nil, errors.New("smtp: connection not from our handler")
	}
	return &session{srv: b.s, c: c, gc: gc}, nil
}

// session is one SMTP session: the authenticated account (submission) and
// the transaction in progress.
type session struct {
	srv     *Server
	c       *conn
	gc      *gosmtp.Conn
	account *store.Account // nil until AUTH succeeds

	// The transaction (MAIL to end of data); Reset clears it. go-smtp
	// runs BDAT's Data in a goroutine of its own and calls Reset from the
	// connection's goroutine while Data may still run (RSET, a failed
	// chunk): mu guards the fields, Data works on a copy (txn).
	mu       sync.Mutex
	from     string
	mailOpts gosmtp.MailOptions
	rcpts    []string // accepted RCPT addresses, as given
	local    []store.Account
	remote   []store.QueueRecipient
}

var (
	_ gosmtp.Session     = (*session)(nil)
	_ gosmtp.AuthSession = (*session)(nil)
)

// refuse counts a refused command and returns its reply, or the 421 that
// ends the session when there were too many.
func (ss *session) refuse(e *gosmtp.SMTPError) error {
	if ss.c.refused() {
		ss.c.log.Info("smtp: too many errors, closing", "errors", ss.c.errorCount())
		return errTooManyErrors
	}
	return e
}

// fail maps err to its reply; permanent refusals count as errors.
func (ss *session) fail(err error) error {
	e := ss.srv.replyFor(err)
	if e == errTemporary {
		ss.c.log.Warn("smtp: temporary failure", "err", err)
	}
	if permanent(e) {
		return ss.refuse(e)
	}
	return e
}

// txn is a copy of the transaction, for Data.
type txn struct {
	from     string
	mailOpts gosmtp.MailOptions
	rcpts    []string
	local    []store.Account
	remote   []store.QueueRecipient
}

func (ss *session) txn() txn {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return txn{from: ss.from, mailOpts: ss.mailOpts, rcpts: ss.rcpts, local: ss.local, remote: ss.remote}
}

func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.reset()
}

func (ss *session) reset() {
	ss.from, ss.mailOpts = "", gosmtp.MailOptions{}
	ss.rcpts, ss.local, ss.remote = nil, nil, nil
}

func (ss *session) Logout() error { return nil }

// count reports a command and its latency to the Metrics hook.
func (ss *session) count(name string, start time.Time) {
	if ss.srv.Metrics != nil {
		ss.srv.Metrics.Command("smtp", name, time.Since(start))
	}
}

func (ss *session) Mail(from string, opts *gosmtp.MailOptions) error {
	defer ss.count("MAIL", time.Now())
	if ss.c.mode == ModeSubmission {
		if ss.account == nil {
			return ss.refuse(errAuthRequired)
		}
		owns, err := ss.srv.Resolver.Owns(ss.c.ctx, *ss.account, from)
		if err != nil {
			return ss.fail(err)
		}
		if !owns {
			ss.c.log.Info("smtp: sender refused", "from", from)
			return ss.refuse(errSenderNotOwned)
		}
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.reset()
	ss.from = from
	if opts != nil {
		ss.mailOpts = *opts
	}
	return nil
}

func (ss *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	defer ss.count("RCPT", time.Now())
	res, err := ss.srv.Resolver.Resolve(ss.c.ctx, to)
	if errors.Is(err, delivery.ErrNotLocal) && ss.account != nil {
		// Authenticated submission: a remote recipient, for the queue.
		if _, _, berr := delivery.SplitAddress(to); berr != nil {
			return ss.fail(berr)
		}
		res, err = delivery.Resolution{Remote: []string{strings.ToLower(to)}}, nil
	}
	if err != nil {
		ss.c.log.Info("smtp: recipient refused", "to", to, "err", err)
		return ss.fail(err)
	}
	if lim := ss.srv.RecipientsPerHour; lim > 0 && ss.account != nil {
		if ss.srv.sent.count(ss.account.ID, time.Now())+len(ss.txn().rcpts)+1 > lim {
			ss.c.log.Info("smtp: sending limit reached", "to", to, "per_hour", lim)
			return errSendLimit
		}
	}
	for _, a := range res.Accounts {
		if err := delivery.CheckQuota(a, ss.txn().mailOpts.Size); err != nil {
			ss.c.log.Info("smtp: recipient over quota", "to", to, "account", a.Address)
			return ss.fail(err)
		}
	}
	ss.add(res, to, opts)
	return nil
}

// add merges a resolved recipient into the transaction, one copy per
// account and per remote address.
func (ss *session) add(res delivery.Resolution, to string, opts *gosmtp.RcptOptions) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.rcpts = append(ss.rcpts, to)
next:
	for _, a := range res.Accounts {
		for _, have := range ss.local {
			if have.ID == a.ID {
				continue next
			}
		}
		ss.local = append(ss.local, a)
	}
nextRemote:
	for _, addr := range res.Remote {
		for _, have := range ss.remote {
			if have.Address == addr {
				continue nextRemote
			}
		}
		qr := store.QueueRecipient{Address: addr}
		if opts != nil && addr == strings.ToLower(to) {
			// DSN parameters belong to the recipient the client named.
			var notify []string
			for _, n := range opts.Notify {
				notify = append(notify, string(n))
			}
			qr.Notify = strings.Join(notify, ",")
			if opts.OriginalRecipient != "" {
				qr.ORcpt = string(opts.OriginalRecipientType) + ";" + opts.OriginalRecipient
			}
		}
		ss.remote = append(ss.remote, qr)
	}
}

func (ss *session) Data(r io.Reader) error {
	start := time.Now()
	defer ss.count("DATA", start)
	t := ss.txn()
	ss.c.inData.Store(true)
	defer ss.c.inData.Store(false)
	// DATA hands us go-smtp's dot-unstuffing reader; BDAT a pipe of raw
	// chunks, where a bare LF is just data (RFC 3030 has no line rules).
	// A message is complete only when the client said so: go-smtp ends
	// a BDAT chunk cut short by EOF as if it were whole (and would store
	// the fragment after BDAT n LAST).
	r = &completeReader{r: r, c: ss.c}
	if _, bdat := r.(*completeReader).r.(*io.PipeReader); !bdat {
		if ss.srv.RejectBareLF {
			r = &bareLFReader{r: r}
		} else {
			r = &bareLFUnstuffer{r: r}
		}
	}
	if ss.c.mode == ModeMX && ss.srv.Checker != nil {
		checked, done, err := ss.authenticate(r, t.from)
		if err != nil {
			ss.c.log.Info("smtp: message refused", "from", t.from, "err", err)
			return ss.fail(err)
		}
		defer done()
		r = checked
	}
	tr := &delivery.Trace{
		Helo: ss.gc.Hostname(), RemoteIP: ss.c.ip, ESMTP: !ss.c.helo.Load(), SMTPUTF8: t.mailOpts.UTF8,
		ID: delivery.NewID(), Time: start,
	}
	tr.TLS, _ = isTLS(ss.gc.Conn())
	if ss.account != nil {
		tr.AuthUser = ss.account.Address
	}
	if len(t.rcpts) == 1 {
		tr.For = t.rcpts[0]
	}
	if ss.c.mode == ModeSubmission && ss.account != nil && !ss.srv.FromAny {
		checked, err := ss.checkFrom(r)
		if err != nil {
			return ss.fail(err)
		}
		r = checked
	}
	if ss.c.mode == ModeSubmission {
		r = completeHeader(r, ss.srv.hostname(), tr.ID, start)
	}
	err := ss.srv.Deliverer.Deliver(ss.c.ctx, delivery.Message{
		From: t.from, Local: t.local, Remote: t.remote,
		ReturnPath: true, Trace: tr, Body: r,
		DSNReturn: string(t.mailOpts.Return), DSNEnvelopeID: t.mailOpts.EnvelopeID, SMTPUTF8: t.mailOpts.UTF8,
	})
	if err != nil {
		ss.c.log.Info("smtp: message refused", "id", tr.ID, "from", t.from, "err", err)
		return ss.fail(err)
	}
	ss.c.messages++
	if ss.account != nil && ss.srv.RecipientsPerHour > 0 {
		ss.srv.sent.add(ss.account.ID, time.Now(), len(t.rcpts))
	}
	ss.c.log.Info("smtp: message accepted", "id", tr.ID, "from", t.from, "local", len(t.local),
		"remote", len(t.remote), "ms", time.Since(start).Milliseconds())
	return accepted(tr.ID)
}

// accepted is the reply to a stored message: our own text, naming the
// id that the Received field and the log carry. go-smtp writes a reply
// value returned from Data as it is, so a 250 one replaces its stock
// "OK: queued".
func accepted(id string) error {
	return reply(250, 2, 0, 0, "Message accepted for delivery, id "+id)
}

// errBareLFFound is what bareLFReader fails with; replyFor maps it.
var errBareLFFound = errors.New("smtp: bare LF in message data")

// bareLFReader fails on the first LF not preceded by CR (smtp.bare_newline
// = reject, Postfix's smtpd_forbid_bare_newline = reject).
type bareLFReader struct {
	r      io.Reader
	lastCR bool
}

func (b *bareLFReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' && !b.lastCR {
			return 0, errBareLFFound
		}
		b.lastCR = p[i] == '\r'
	}
	return n, err
}

// bareLFUnstuffer completes go-smtp's dot-unstuffing for lines ending in a
// bare LF (smtp.bare_newline = normalize): go-smtp only treats CRLF as a
// line end, so a client that sends "\n..text" (stuffed, but with LF line
// ends) would otherwise keep both dots. A line start after a bare LF loses
// one leading dot, exactly as after CRLF. The end of data stays CRLF.CRLF
// only: that is go-smtp's, below this reader.
type bareLFUnstuffer struct {
	r         io.Reader
	last      byte // previous byte seen
	lineStart bool // the next byte starts a line after a bare LF
}

func (u *bareLFUnstuffer) Read(p []byte) (int, error) {
	for {
		n, err := u.r.Read(p)
		if n == 0 || !u.needsWork(p[:n]) {
			if n > 0 {
				u.last = p[n-1]
			}
			return n, err
		}
		out := 0
		for i := 0; i < n; i++ {
			c := p[i]
			if u.lineStart && c == '.' {
				u.lineStart = false
				u.last = c
				continue
			}
			u.lineStart = c == '\n' && u.last != '\r'
			u.last = c
			p[out] = c
			out++
		}
		if out > 0 || err != nil {
			return out, err
		}
		// Everything read was one dropped dot: read on rather than
		// return 0, nil.
	}
}

// needsWork reports whether b has a bare LF or starts right after one:
// mail with CRLF line ends (nearly all of it) then passes untouched, at
// the cost of one IndexByte per line.
func (u *bareLFUnstuffer) needsWork(b []byte) bool {
	if u.lineStart {
		return true
	}
	prev := u.last
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '\n')
		if i < 0 {
			return false
		}
		at := off + i
		if at > 0 {
			prev = b[at-1]
		}
		if prev != '\r' {
			return true
		}
		off = at + 1
	}
}

// completeReader turns the end of message data into errCutShort when it
// came from a failed read of the connection (EOF, timeout) rather than
// from the client's end of data. go-smtp stops reading the connection at
// the end of data (CRLF.CRLF, the last octet of BDAT LAST), so a read
// error before the end reached us means the data was cut short.
type completeReader struct {
	r io.Reader
	c *conn
}

func (cr *completeReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	if err == io.EOF && cr.c.readFailed() {
		return n, errCutShort
	}
	return n, err
}
