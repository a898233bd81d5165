package smtp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// transaction is what MAIL and RCPT collected for the message to come;
// reset clears it.
type transaction struct {
	from  string
	opts  mailOptions
	rcpts []string // accepted RCPT addresses, as given
	local []store.Account
	// localTo is the RCPT address that first reached each local
	// account, for its filter and plus-address folder.
	localTo map[int64]string
	remote  []store.QueueRecipient
	// sent is what the account sent in the hour before the transaction
	// (sentThisHour), once sentRead.
	sent     int
	sentRead bool
}

// mailOptions are MAIL's parameters (RFC 1870 SIZE, RFC 6152 BODY,
// RFC 6531 SMTPUTF8, RFC 3461 RET and ENVID, RFC 4954 AUTH).
type mailOptions struct {
	size       int64
	utf8       bool
	ret        string // "FULL", "HDRS" or ""
	envelopeID string
}

func (ss *session) reset() {
	ss.txn = transaction{}
	if ss.state > stateReady {
		ss.state = stateReady
	}
}

// fail maps an error from resolution or delivery to its reply.
func (ss *session) fail(err error) *Reply {
	r := ss.srv.replyFor(err)
	if r == errTemporary {
		ss.log.Warn("smtp: temporary failure", "err", err)
	}
	return r
}

// cmdMAIL: MAIL FROM:<reverse-path> [parameters] (RFC 5321 4.1.1.2).
func (ss *session) cmdMAIL(arg []byte) *Reply {
	from, params, ok := parsePath(arg, "FROM:")
	if !ok {
		return syntaxError("Syntax: MAIL FROM:<address> [parameters]")
	}
	if from != "" {
		if _, _, err := delivery.SplitAddress(from); err != nil {
			return errBadSender
		}
	}
	var opts mailOptions
	if r := parseMailParams(params, &opts); r != nil {
		return r
	}
	if opts.size > ss.srv.maxSize() {
		return errMessageTooBig
	}
	if ss.mode == ModeSubmission {
		if ss.account == nil {
			return errAuthRequired
		}
		owns, err := ss.srv.Resolver.Owns(ss.ctx, *ss.account, from)
		if err != nil {
			return ss.fail(err)
		}
		if !owns {
			ss.log.Info("smtp: sender refused", "from", from)
			return errSenderNotOwned
		}
	}
	ss.txn = transaction{from: from, opts: opts}
	ss.state = stateMail
	return reply(250, 2, 1, 0, "Sender <"+from+"> OK")
}

// cmdRCPT: RCPT TO:<forward-path> [parameters] (RFC 5321 4.1.1.3).
func (ss *session) cmdRCPT(arg []byte) *Reply {
	to, params, ok := parsePath(arg, "TO:")
	if !ok || to == "" {
		return syntaxError("Syntax: RCPT TO:<address> [parameters]")
	}
	notify, orcpt, r := parseRcptParams(params)
	if r != nil {
		return r
	}
	if len(ss.txn.rcpts) >= ss.srv.maxRecipients() {
		return errTooManyRcpts
	}
	res, err := ss.srv.Resolver.Resolve(ss.ctx, to)
	if errors.Is(err, delivery.ErrNotLocal) && ss.account != nil {
		// Authenticated submission: a remote recipient, for the queue.
		if _, _, berr := delivery.SplitAddress(to); berr != nil {
			return ss.fail(berr)
		}
		res, err = delivery.Resolution{Remote: []string{strings.ToLower(to)}}, nil
	}
	if err != nil {
		ss.log.Info("smtp: recipient refused", "to", to, "err", err)
		return ss.fail(err)
	}
	if lim := ss.srv.RecipientsPerHour; lim > 0 && ss.account != nil && ss.srv.SendLog != nil {
		sent, err := ss.sentThisHour()
		if err != nil {
			ss.log.Warn("smtp: reading the recipients sent", "err", err)
			return ss.fail(err)
		}
		if sent+len(ss.txn.rcpts)+1 > lim {
			ss.log.Info("smtp: sending limit reached", "to", to, "per_hour", lim)
			return errSendLimit
		}
	}
	for _, a := range res.Accounts {
		if err := delivery.CheckQuota(a, ss.txn.opts.size); err != nil {
			ss.log.Info("smtp: recipient over quota", "to", to, "account", a.Address)
			return ss.fail(err)
		}
	}
	ss.add(res, to, notify, orcpt)
	ss.state = stateRcpt
	return reply(250, 2, 1, 5, "Recipient <"+to+"> OK")
}

// add merges a resolved recipient into the transaction, one copy per
// account and per remote address.
func (ss *session) add(res delivery.Resolution, to, notify, orcpt string) {
	t := &ss.txn
	t.rcpts = append(t.rcpts, to)
next:
	for _, a := range res.Accounts {
		for _, have := range t.local {
			if have.ID == a.ID {
				continue next
			}
		}
		t.local = append(t.local, a)
		if t.localTo == nil {
			t.localTo = map[int64]string{}
		}
		t.localTo[a.ID] = to
	}
nextRemote:
	for _, addr := range res.Remote {
		for _, have := range t.remote {
			if have.Address == addr {
				continue nextRemote
			}
		}
		qr := store.QueueRecipient{Address: addr}
		if addr == strings.ToLower(to) {
			// DSN parameters belong to the recipient the client named.
			qr.Notify, qr.ORcpt = notify, orcpt
		}
		t.remote = append(t.remote, qr)
	}
}

// parsePath reads "FROM:<path>" or "TO:<path>" (the keyword case-blind, a
// space after the colon tolerated) and returns the address, the
// parameter text after it, and whether the syntax was right. A source
// route (<@a,@b:user@c>, RFC 5321 section 4.1.2) is dropped. The address
// is not checked here beyond being one token of valid UTF-8.
func parsePath(arg []byte, keyword string) (string, []byte, bool) {
	if len(arg) < len(keyword) || !bytes.EqualFold(arg[:len(keyword)], []byte(keyword)) {
		return "", nil, false
	}
	arg = bytes.TrimLeft(arg[len(keyword):], " ")
	if len(arg) == 0 || arg[0] != '<' {
		return "", nil, false
	}
	quoted := false
	for i := 1; i < len(arg); i++ {
		c := arg[i]
		switch {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '>':
			path, rest := arg[1:i], arg[i+1:]
			if len(rest) > 0 && rest[0] != ' ' {
				return "", nil, false
			}
			if len(path) > 0 && path[0] == '@' {
				_, path, _ = bytes.Cut(path, []byte(":"))
			}
			if len(path) > 320 || !utf8.Valid(path) {
				return "", nil, false
			}
			return string(path), rest, true
		case c == '<' || c == ' ':
			return "", nil, false
		}
	}
	return "", nil, false
}

// params splits ESMTP parameters (keyword[=value], space separated) and
// calls f with the upper-cased keyword; a keyword given twice is an error.
func params(text []byte, f func(key, value string) *Reply) *Reply {
	seen := map[string]bool{}
	for _, p := range strings.Fields(string(text)) {
		key, value, _ := strings.Cut(p, "=")
		key = strings.ToUpper(key)
		if seen[key] {
			return syntaxError("Parameter %s given twice", key)
		}
		seen[key] = true
		if r := f(key, value); r != nil {
			return r
		}
	}
	return nil
}

func parseMailParams(text []byte, o *mailOptions) *Reply {
	return params(text, func(key, value string) *Reply {
		switch key {
		case "SIZE":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 {
				return syntaxError("SIZE must be a number of octets")
			}
			o.size = n
		case "BODY":
			switch strings.ToUpper(value) {
			case "7BIT", "8BITMIME":
			default:
				return syntaxError("BODY must be 7BIT or 8BITMIME")
			}
		case "SMTPUTF8":
			if value != "" {
				return syntaxError("SMTPUTF8 takes no value")
			}
			o.utf8 = true
		case "RET":
			o.ret = strings.ToUpper(value)
			if o.ret != "FULL" && o.ret != "HDRS" {
				return syntaxError("RET must be FULL or HDRS")
			}
		case "ENVID":
			id, ok := decodeXtext(value)
			if !ok || id == "" || len(id) > 100 {
				return syntaxError("Malformed ENVID")
			}
			o.envelopeID = id
		case "AUTH":
			// RFC 4954 section 5: the original submitter, for relays that
			// trust us; we do not use it.
			if _, ok := decodeXtext(value); !ok || value == "" {
				return syntaxError("Malformed AUTH parameter")
			}
		default:
			return errBadParam
		}
		return nil
	})
}

// parseRcptParams reads RCPT's DSN parameters (RFC 3461 section 4):
// NOTIFY as a comma list, ORCPT as "type;address" (decoded).
func parseRcptParams(text []byte) (notify, orcpt string, r *Reply) {
	r = params(text, func(key, value string) *Reply {
		switch key {
		case "NOTIFY":
			list := strings.Split(strings.ToUpper(value), ",")
			for _, n := range list {
				switch n {
				case "SUCCESS", "FAILURE", "DELAY":
				case "NEVER":
					if len(list) > 1 {
						return syntaxError("NOTIFY=NEVER stands alone")
					}
				default:
					return syntaxError("Malformed NOTIFY")
				}
			}
			notify = strings.Join(list, ",")
		case "ORCPT":
			typ, addr, _ := strings.Cut(value, ";")
			typ = strings.ToUpper(typ)
			dec, ok := addr, utf8.ValidString(addr) && !hasControl([]byte(addr))
			if typ == "RFC822" {
				dec, ok = decodeXtext(addr)
			} else if typ != "UTF-8" {
				ok = false // RFC 6533's utf-8-addr-xtext is kept as sent
			}
			if !ok || dec == "" || len(dec) > 500 {
				return syntaxError("Malformed ORCPT")
			}
			orcpt = typ + ";" + dec
		default:
			return errBadParam
		}
		return nil
	})
	return notify, orcpt, r
}

// decodeXtext decodes RFC 3461 section 4's xtext ("+" and two upper-case
// hex digits for an octet).
func decodeXtext(s string) (string, bool) {
	if !strings.Contains(s, "+") {
		for i := 0; i < len(s); i++ {
			if s[i] < '!' || s[i] > '~' || s[i] == '=' {
				return "", false
			}
		}
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", false
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", false
			}
			b.WriteByte(byte(v))
			i += 2
		case c < '!' || c > '~' || c == '=':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}
