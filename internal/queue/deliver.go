package queue

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
)

// deliverDomain tries to deliver the recipients of one domain, host after
// host, and returns each recipient's new status and reply.
func (w *Worker) deliverDomain(ctx context.Context, m store.QueuedMessage, domain string,
	rcpts []store.QueueRecipient, signature string, log *slog.Logger) []store.QueueRecipient {
	log = log.With("domain", domain)
	out := make([]store.QueueRecipient, len(rcpts))
	copy(out, rcpts)
	fail := func(f failure, which []int) []store.QueueRecipient {
		st := store.RecipientPending
		if f.permanent {
			st = store.RecipientFailed
		}
		for _, i := range which {
			out[i].Status, out[i].Reply = st, f.text
			logRecipient(log, out[i], "host", f.remoteMTA)
		}
		return out
	}
	all := make([]int, len(rcpts))
	for i := range all {
		all[i] = i
	}
	key := domain
	if w.Smarthost != nil {
		key = "" // one limit for the smarthost
	}
	release, err := w.limiter.acquire(ctx, key)
	if err != nil {
		return fail(failureOf(err, ""), all)
	}
	defer release()

	hops, err := w.hops(ctx, domain)
	if err == nil {
		hops, err = w.stsHops(ctx, domain, hops)
	}
	if err != nil {
		return fail(failureOf(err, ""), all)
	}
	todo := all
	var last failure
	for _, hop := range hops {
		addrs, err := w.addrs(ctx, hop)
		if err != nil {
			last = failure{status: "4.4.4", text: fmt.Sprintf("4.4.4 no address for %s: %v", hop.Host, err)}
			// RFC 5321 5.1: the implicit MX (no MX records, and the
			// domain has no address either) is a permanent failure.
			if resolver.IsNotFound(err) && len(hops) == 1 && hop.Host == domain && w.Routes[domain] == (Hop{}) && w.Smarthost == nil {
				last = failure{permanent: true, status: "5.1.2", text: "5.1.2 " + domain + " has no MX and no address"}
			}
			continue
		}
		for _, a := range addrs {
			if ctx.Err() != nil {
				return fail(failureOf(ctx.Err(), ""), todo)
			}
			done, left, f := w.tryHost(ctx, m, domain, hop, a, out, todo, signature, log)
			w.limiter.feedback(key, f.overloaded, f.text == "")
			if f.overloaded {
				log.Info("destination overloaded; fewer sessions at once", "host", hop.String(), "sessions", w.limiter.allowedFor(key))
			}
			if done {
				return out
			}
			todo, last = left, f
			if len(todo) == 0 {
				return out
			}
		}
	}
	if last.text == "" {
		last = failure{status: "4.4.4", text: "4.4.4 no host to deliver to"}
	}
	log.Info("delivery attempt failed", "err", last.text)
	return fail(last, todo)
}

// tryHost runs one transaction with one address of a hop, on a pooled
// session when there is one. done means the recipients in todo all have
// their outcome in out (accepted or refused by this host); otherwise
// left are the recipients still to try elsewhere and f why this host did
// not take them.
func (w *Worker) tryHost(ctx context.Context, m store.QueuedMessage, domain string, hop Hop, addr netip.Addr,
	out []store.QueueRecipient, todo []int, signature string, log *slog.Logger) (done bool, left []int, f failure) {
	host := hop.String()
	key := connKey{hop: host, addr: addr, policy: w.policyFor(domain, hop)}
	body, err := w.Queue.QueuedBody(ctx, m.ID)
	if err != nil {
		return false, todo, failure{status: "4.3.0", text: "4.3.0 reading the queued message: " + err.Error()}
	}
	defer body.Close()
	var c *client
	var rcptReplies []Reply
	var data Reply
	for fresh := false; ; fresh = true {
		var reused bool
		c, reused, err = w.session(ctx, key, hop, addr, fresh)
		if !reused {
			w.reportSession(domain, hop, addr, c, err)
		}
		if err != nil {
			log.Info("connection failed", "host", host, "addr", addr, "err", err)
			f := failureOf(err, host)
			f.overloaded = ctx.Err() == nil && overloaded(err)
			return false, todo, f
		}
		if err := checkPeer(c, m); err != nil {
			w.pool.put(key, c, true)
			return false, todo, failureOf(err, host)
		}
		tx := transaction{from: m.Envelope.From, mailParams: mailParams(c, m),
			body: io.MultiReader(strings.NewReader(signature), body)}
		for _, i := range todo {
			tx.rcpts = append(tx.rcpts, out[i].Address)
			tx.rcptParams = append(tx.rcptParams, rcptParams(c, out[i]))
		}
		rcptReplies, data, err = c.send(tx)
		var stale *staleError
		if reused && errors.As(err, &stale) {
			// Closed by the peer while idle: nothing was sent yet.
			log.Debug("pooled session gone; dialling again", "host", host, "err", err)
			c.close()
			continue
		}
		break
	}
	session := []any{"host", host, "addr", addr, "tls", c.tls, "session_messages", c.used}
	w.pool.put(key, c, reusable(err)) // c is another attempt's from here on
	// Per-recipient refusals stand whatever happens next.
	for j, rep := range rcptReplies {
		i := todo[j]
		switch {
		case rep.Permanent():
			out[i].Status, out[i].Reply = store.RecipientFailed, rep.String()
		case !rep.Positive():
			out[i].Status, out[i].Reply = store.RecipientPending, rep.String()
		default:
			continue
		}
		logRecipient(log, out[i], session...)
	}
	if err != nil {
		f := failureOf(err, host)
		f.overloaded = ctx.Err() == nil && overloaded(err)
		var re *ReplyError
		if errors.As(err, &re) && re.Reply.Permanent() {
			// MAIL or DATA refused for good: the refusal is the
			// domain's answer, no other MX would say otherwise.
			for _, i := range todo {
				if out[i].Status == store.RecipientPending && (len(rcptReplies) == 0 || replyOf(rcptReplies, todo, i).Positive()) {
					out[i].Status, out[i].Reply = store.RecipientFailed, f.text
					logRecipient(log, out[i], session...)
				}
			}
			return true, nil, f
		}
		// Temporary or broken: the recipients not refused by RCPT may
		// go to the next host.
		for _, i := range todo {
			if out[i].Status == store.RecipientPending && (len(rcptReplies) == 0 || replyOf(rcptReplies, todo, i).Positive()) {
				left = append(left, i)
			}
		}
		log.Info("transaction failed", append(session, "err", err)...)
		return len(left) == 0, left, f
	}
	for j, rep := range rcptReplies {
		if rep.Positive() {
			i := todo[j]
			out[i].Status, out[i].Reply = store.RecipientDelivered, data.String()
			logRecipient(log, out[i], session...)
		}
	}
	return true, nil, failure{}
}

// reusable says whether a session may carry another transaction after
// one that ended with err: yes after a reply other than 421 (the peer is
// in a known state; the next use starts with RSET), no after a network
// error, a timeout or 421 (the peer is closing).
func reusable(err error) bool {
	if err == nil {
		return true
	}
	var re *ReplyError
	return errors.As(err, &re) && re.Reply.Code != 421
}

// logRecipient logs one recipient's outcome of this attempt, with the
// reply recorded on the queue (what `pochta queue show` prints).
func logRecipient(log *slog.Logger, r store.QueueRecipient, attrs ...any) {
	msg := "recipient deferred"
	switch r.Status {
	case store.RecipientDelivered:
		msg = "recipient delivered"
	case store.RecipientFailed:
		msg = "recipient failed"
	}
	log.Info(msg, append(append([]any{"rcpt", r.Address}, attrs...), "reply", r.Reply)...)
}

// session returns a session with a hop's address ready for MAIL: an idle
// pooled one unless fresh, else a new one.
func (w *Worker) session(ctx context.Context, key connKey, hop Hop, addr netip.Addr, fresh bool) (c *client, reused bool, err error) {
	if !fresh {
		if c := w.pool.get(ctx, key); c != nil {
			return c, true, nil
		}
	}
	c, err = w.connect(ctx, key.policy, hop, addr)
	return c, false, err
}

func replyOf(replies []Reply, todo []int, i int) Reply {
	for j, t := range todo {
		if t == i && j < len(replies) {
			return replies[j]
		}
	}
	return Reply{}
}

// connect dials one address of a hop and brings the session to the point
// of MAIL: greeting, EHLO, STARTTLS (required or opportunistic), AUTH.
func (w *Worker) connect(ctx context.Context, policy tlsPolicy, hop Hop, addr netip.Addr) (*client, error) {
	c, err := w.dial(ctx, hop, addr, policy)
	if err != nil {
		return nil, err
	}
	if err := c.hello(w.hostname()); err != nil {
		c.close()
		return nil, err
	}
	if !c.tls && c.has("STARTTLS") {
		if err := c.startTLS(w.tlsConfig(hop, policy.verify)); err != nil {
			c.close()
			if policy.required {
				return nil, tlsFailed(hop, err)
			}
			// RFC 7435: opportunistic TLS that fails falls back to a
			// cleartext session rather than to no delivery.
			if c, err = w.dial(ctx, hop, addr, policy); err != nil {
				return nil, err
			}
			if err := c.hello(w.hostname()); err != nil {
				c.close()
				return nil, err
			}
			return c, nil
		}
		if err := c.hello(w.hostname()); err != nil {
			c.close()
			return nil, err
		}
	}
	if policy.required && !c.tls {
		c.close()
		return nil, temporaryf("4.7.4", "%s does not offer STARTTLS and TLS is required", hop)
	}
	if w.Smarthost != nil && w.Smarthost.User != "" {
		if err := c.auth(w.Smarthost.User, w.Smarthost.Password); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (w *Worker) dial(ctx context.Context, hop Hop, addr netip.Addr, policy tlsPolicy) (*client, error) {
	d := net.Dialer{Timeout: or(w.ConnectTimeout, DefaultConnectTimeout)}
	nc, err := d.DialContext(ctx, "tcp", net.JoinHostPort(addr.String(), strconv.Itoa(hop.Port)))
	if err != nil {
		return nil, err
	}
	if policy.implicit {
		tc := tls.Client(nc, w.tlsConfig(hop, policy.verify))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, tlsFailed(hop, err)
		}
		nc = tc
	}
	c, err := newClient(ctx, nc, or(w.CommandTimeout, DefaultCommandTimeout))
	if err != nil {
		return nil, err
	}
	c.tls = policy.implicit
	return c, nil
}

// tlsConfig verifies the certificate against the hop's name when TLS is
// required, and accepts any certificate for opportunistic TLS (an MX
// name is not authenticated by DNS anyway without DANE or MTA-STS).
func (w *Worker) tlsConfig(hop Hop, verify bool) *tls.Config {
	cfg := &tls.Config{ServerName: hop.Host, MinVersion: tls.VersionTLS12, RootCAs: w.RootCAs,
		ClientSessionCache: w.tlsSessions}
	if hop.Literal.IsValid() && hop.Host == hop.Literal.String() {
		cfg.ServerName = ""
	}
	if !verify {
		cfg.InsecureSkipVerify = true
	}
	return cfg
}

func (w *Worker) hostname() string {
	if w.Hostname != "" {
		return w.Hostname
	}
	return "localhost"
}

// checkPeer refuses what the peer cannot take before sending anything.
func checkPeer(c *client, m store.QueuedMessage) error {
	if m.Envelope.SMTPUTF8 && !c.has("SMTPUTF8") {
		// RFC 6531 3.4: no downgrade here; the sender learns why.
		return permanentf("5.6.7", "the message needs SMTPUTF8, which the receiving server does not support")
	}
	if v, ok := c.ext["SIZE"]; ok {
		if limit, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && limit > 0 && m.Size > limit {
			return permanentf("5.3.4", "message of %d octets is larger than the receiver's limit of %d", m.Size, limit)
		}
	}
	return nil
}

// mailParams are the MAIL FROM parameters the peer supports.
func mailParams(c *client, m store.QueuedMessage) []string {
	var p []string
	if c.has("8BITMIME") {
		p = append(p, "BODY=8BITMIME") // RFC 6152
	}
	if m.Envelope.SMTPUTF8 && c.has("SMTPUTF8") {
		p = append(p, "SMTPUTF8")
	}
	if c.has("SIZE") {
		p = append(p, "SIZE="+strconv.FormatInt(m.Size, 10))
	}
	if c.has("DSN") {
		if m.Envelope.DSNReturn != "" {
			p = append(p, "RET="+m.Envelope.DSNReturn)
		}
		if m.Envelope.DSNEnvelopeID != "" {
			p = append(p, "ENVID="+xtext(m.Envelope.DSNEnvelopeID))
		}
	}
	return p
}

// rcptParams pass the RFC 3461 parameters on to a DSN-capable peer.
func rcptParams(c *client, r store.QueueRecipient) []string {
	if !c.has("DSN") {
		return nil
	}
	var p []string
	if r.Notify != "" {
		p = append(p, "NOTIFY="+r.Notify)
	}
	if typ, addr, ok := strings.Cut(r.ORcpt, ";"); ok {
		p = append(p, "ORCPT="+typ+";"+xtext(addr))
	}
	return p
}
