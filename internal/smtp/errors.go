package smtp

import (
	"errors"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// Replies this package sends (RFC 5321 codes, RFC 3463 enhanced codes).
// The wire never carries internal details; the log has them.
func reply(code int, e1, e2, e3 int, msg string) *gosmtp.SMTPError {
	return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{e1, e2, e3}, Message: msg}
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
	errLineTooLong    = reply(500, 5, 4, 0, "Line too long")
	errTimeout        = reply(421, 4, 4, 2, "Timeout: the client was too slow, closing connection")
	errSessionTooLong = reply(421, 4, 4, 2, "Session lasted too long, closing connection: reconnect to go on")
	errShuttingDown   = reply(421, 4, 3, 2, "Server shutting down, try again later")
	errHeaderTooBig   = reply(552, 5, 3, 4, "Message header section too large")
	errCutShort       = reply(451, 4, 4, 2, "Message data incomplete: the connection ended before all of it arrived")
)

// replyFor maps an error from resolution or delivery to the reply;
// anything unexpected is a temporary local problem (the client retries).
func (s *Server) replyFor(err error) *gosmtp.SMTPError {
	var se *gosmtp.SMTPError
	switch {
	case errors.As(err, &se):
		return se
	case errors.Is(err, message.ErrHeaderTooLarge):
		// Permanent: the same message will never fit (a 451 would make
		// the sender retry it for days).
		return errHeaderTooBig
	case errors.Is(err, errBareLFFound):
		return errBareLF
	case errors.Is(err, gosmtp.ErrTooLongLine):
		// go-smtp then closes the session, as it does for a long command.
		return errLineTooLong
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
		return gosmtp.ErrAuthFailed
	}
	return errTemporary
}

// permanent reports whether a reply refuses for good (5xx): those count
// towards MaxErrors.
func permanent(e *gosmtp.SMTPError) bool { return e.Code >= 500 }
