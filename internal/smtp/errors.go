package smtp

import (
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// Reply is an SMTP reply as a value: handlers return it as their error
// (a 2xx one too, for the end of data), and the session writes it. The
// wire never carries internal details; the log has them.
type Reply struct {
	Code     int    // RFC 5321 section 4.2
	Enhanced [3]int // RFC 3463 (RFC 2034 ENHANCEDSTATUSCODES); zero = none
	Message  string // one line, no CR or LF
}

func (r *Reply) Error() string { return r.String() }

// String is the reply line without its CRLF.
func (r *Reply) String() string {
	if r.Enhanced == [3]int{} {
		return fmt.Sprintf("%d %s", r.Code, r.Message)
	}
	return fmt.Sprintf("%d %d.%d.%d %s", r.Code, r.Enhanced[0], r.Enhanced[1], r.Enhanced[2], r.Message)
}

// Replies this package sends (RFC 5321 codes, RFC 3463 enhanced codes).
func reply(code int, e1, e2, e3 int, msg string) *Reply {
	return &Reply{Code: code, Enhanced: [3]int{e1, e2, e3}, Message: msg}
}

// Protocol replies (RFC 5321 section 4.2.4 for 500 versus 501, 4.1.4 and
// 3.3 for 503).
var (
	errUnknownCommand = reply(500, 5, 5, 2, "Command unrecognized")
	errBadSequence    = reply(503, 5, 5, 1, "Bad sequence of commands")
	errNestedMail     = reply(503, 5, 5, 1, "Bad sequence of commands: a transaction is already open (RSET first)")
	errNeedRcpt       = reply(503, 5, 5, 1, "Bad sequence of commands: MAIL and RCPT first")
	errNeedHello      = reply(503, 5, 5, 1, "Bad sequence of commands: EHLO or HELO first")
	errInBDAT         = reply(503, 5, 5, 1, "Bad sequence of commands: only BDAT, RSET, NOOP and QUIT during a chunked message")
	errNoRecipients   = reply(554, 5, 5, 1, "No valid recipients")
	errTooManyRcpts   = reply(452, 4, 5, 3, "Too many recipients")
	errMessageTooBig  = reply(552, 5, 3, 4, "Message too big for this server")
	errNoTLS          = reply(454, 4, 7, 0, "TLS not available")
	errAlreadyTLS     = reply(503, 5, 5, 1, "TLS is already active")
	errAlreadyAuth    = reply(503, 5, 5, 1, "Already authenticated")
	errAuthInMail     = reply(503, 5, 5, 1, "AUTH is not allowed during a mail transaction")
	errAuthCancelled  = reply(501, 5, 0, 0, "Authentication cancelled")
	errAuthFailed     = reply(535, 5, 7, 8, "Authentication credentials invalid")
	errAuthMechanism  = reply(504, 5, 7, 4, "Unrecognized authentication mechanism")
	errBadBase64      = reply(501, 5, 5, 2, "Invalid base64 in the SASL response")
	errBadSender      = reply(501, 5, 1, 7, "Bad sender address syntax")
	errBadParam       = reply(555, 5, 5, 4, "Parameter not recognized or not implemented")
)

// syntaxError is 501 for a known command with bad arguments.
func syntaxError(format string, a ...any) *Reply {
	return reply(501, 5, 5, 4, fmt.Sprintf(format, a...))
}

var (
	errRelayDenied    = reply(550, 5, 7, 1, "Relaying denied: this server only accepts mail for its own domains")
	errUnknownUser    = reply(550, 5, 1, 1, "No such user here")
	errBadAddress     = reply(501, 5, 1, 3, "Bad recipient address syntax")
	errAliasLoop      = reply(550, 5, 4, 6, "Alias loop or alias expands to too many recipients")
	errTemporary      = reply(451, 4, 3, 0, "Temporary local problem, please try again later")
	errAuthRequired   = reply(530, 5, 7, 0, "Authentication required")
	errSenderNotOwned = reply(553, 5, 7, 1, "Sender address not owned by the authenticated user")
	errQuotaTemp      = reply(452, 4, 2, 2, "Mailbox full, try again later")
	errQuotaPerm      = reply(552, 5, 2, 2, "Mailbox full")
	errBareLF         = reply(550, 5, 5, 2, "Bare <LF> received: lines must end with <CR><LF>")
	errTooManyErrors  = reply(421, 4, 7, 0, "Too many errors, closing connection")
	errEncryptionReq  = reply(538, 5, 7, 11, "Encryption required for requested authentication mechanism")
	errAuthTemporary  = reply(454, 4, 7, 0, "Temporary authentication failure")
	errAuthNotOnMX    = reply(503, 5, 5, 1, "AUTH is not available on this port: use submission")
	errLineTooLong    = reply(500, 5, 4, 0, "Line too long, closing connection")
	errTimeout        = reply(421, 4, 4, 2, "Timeout: the client was too slow, closing connection")
	errSessionTooLong = reply(421, 4, 4, 2, "Session lasted too long, closing connection: reconnect to go on")
	errShuttingDown   = reply(421, 4, 3, 2, "Server shutting down, try again later")
	errHeaderTooBig   = reply(552, 5, 3, 4, "Message header section too large")
	errCutShort       = reply(451, 4, 4, 2, "Message data incomplete: the connection ended before all of it arrived")
)

// replyFor maps an error from resolution or delivery to the reply;
// anything unexpected is a temporary local problem (the client retries).
func (s *Server) replyFor(err error) *Reply {
	var se *Reply
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, message.ErrHeaderTooLarge):
		// Permanent: the same message will never fit (a 451 would make
		// the sender retry it for days).
		return errHeaderTooBig
	case errors.Is(err, errBareLFFound):
		return errBareLF
	case errors.Is(err, errLineTooLongRead):
		return errLineTooLong
	case errors.Is(err, errTooBig):
		return errMessageTooBig
	case errors.Is(err, errDataCut):
		return errCutShort
	case errors.Is(err, delivery.ErrNotLocal):
		return errRelayDenied
	case errors.Is(err, delivery.ErrUnknownUser):
		return errUnknownUser
	case errors.Is(err, delivery.ErrBadAddress):
		return errBadAddress
	case errors.Is(err, delivery.ErrAliasLoop):
		return errAliasLoop
	case errors.Is(err, delivery.ErrOverQuota), errors.Is(err, store.ErrQuota):
		if s.QuotaPermanent {
			return errQuotaPerm
		}
		return errQuotaTemp
	case errors.Is(err, auth.ErrFailed):
		return errAuthFailed
	}
	var rejected *delivery.RejectedError
	if errors.As(err, &rejected) {
		// RFC 5429 2.1: the Sieve reject reason in the SMTP reply.
		return reply(550, 5, 7, 1, rejected.WireText())
	}
	return errTemporary
}

// permanent reports whether a reply refuses for good (5xx): those count
// towards MaxErrors.
func permanent(e *Reply) bool { return e.Code >= 500 }
