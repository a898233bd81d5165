package smtp

import (
	"bytes"
	"crypto/tls"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/server"
)

// cmdEHLO: EHLO domain (RFC 5321 section 4.1.1.1), the extensions we
// have, one per line.
func (ss *session) cmdEHLO(arg []byte) *Reply {
	if r := ss.greet(arg, true); r != nil {
		return r
	}
	lines := []string{ss.srv.hostname() + " Hello " + ss.helo,
		"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8", "DSN",
		"SIZE " + strconv.FormatInt(ss.srv.maxSize(), 10)}
	if ss.tls == nil && ss.srv.TLSConfig != nil {
		lines = append(lines, "STARTTLS")
	}
	if mechs := ss.authMechanisms(); len(mechs) > 0 && ss.account == nil {
		lines = append(lines, "AUTH "+strings.Join(mechs, " "))
	}
	// RFC 9422: how many recipients a transaction may have.
	lines = append(lines, "LIMITS RCPTMAX="+strconv.Itoa(ss.srv.maxRecipients()))
	ss.writeMulti(250, lines)
	return nil
}

// cmdHELO: HELO domain, without extensions.
func (ss *session) cmdHELO(arg []byte) *Reply {
	if r := ss.greet(arg, false); r != nil {
		return r
	}
	return &Reply{Code: 250, Message: ss.srv.hostname()}
}

// greet records the client's name and starts afresh: a greeting ends any
// transaction (RFC 5321 section 4.1.4), but not an authentication.
func (ss *session) greet(arg []byte, esmtp bool) *Reply {
	name, _, _ := bytes.Cut(bytes.TrimSpace(arg), []byte(" "))
	if len(name) == 0 || len(name) > 255 || !utf8.Valid(name) {
		return syntaxError("A domain name or address literal is required")
	}
	ss.reset()
	ss.helo, ss.esmtp = string(name), esmtp
	ss.state = stateReady
	return nil
}

// cmdSTARTTLS: RFC 3207. Everything known about the client before the
// handshake is forgotten; what it pipelined after the command is dropped
// (startTLS).
func (ss *session) cmdSTARTTLS(arg []byte) *Reply {
	switch {
	case len(arg) > 0:
		return syntaxError("STARTTLS takes no argument")
	case ss.tls != nil:
		return errAlreadyTLS
	case ss.srv.TLSConfig == nil:
		return errNoTLS
	}
	ss.writeReply(reply(220, 2, 0, 0, "Ready to start TLS"))
	if err := ss.flush(); err != nil {
		ss.endReason, ss.closing = "write failed", true
		return nil
	}
	tc := tls.Server(ss.in, ss.srv.TLSConfig)
	if err := server.Handshake(ss.ctx, tc, handshakeTimeout); err != nil {
		ss.log.Info("smtp: STARTTLS handshake failed", "err", err)
		ss.endReason, ss.closing = "TLS handshake failed", true
		return nil
	}
	ss.startTLS(tc)
	ss.reset()
	ss.helo, ss.esmtp, ss.account = "", false, nil
	ss.state = stateGreet
	return nil
}
