package imap

import (
	"context"
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// Response codes (RFC 9051 §7.1, RFC 5530, and the extensions').
const (
	codeAlreadyExists = "ALREADYEXISTS"
	codeAuthFailed    = "AUTHENTICATIONFAILED"
	codeBadCharset    = "BADCHARSET"
	codeCannot        = "CANNOT"
	codeClientBug     = "CLIENTBUG"
	codeExpungeIssued = "EXPUNGEISSUED"
	codeHasChildren   = "HASCHILDREN"
	codeInUse         = "INUSE"
	codeLimit         = "LIMIT"
	codeNonExistent   = "NONEXISTENT"
	codeNoPerm        = "NOPERM"
	codeOverQuota     = "OVERQUOTA"
	codePrivacyReq    = "PRIVACYREQUIRED"
	codeServerBug     = "SERVERBUG"
	codeTryCreate     = "TRYCREATE"
	codeUnavailable   = "UNAVAILABLE"
	codeUseAttr       = "USEATTR"
	codeUnknownCTE    = "UNKNOWN-CTE"
)

// Reply texts shared by several handlers.
const (
	textTemp       = "Temporary server failure, try again later"
	textInternal   = "Internal error occurred. Refer to server log for more information."
	textPlaintext  = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textAuthFailed = "Authentication failed."
)

// protoError is a failed command as the client sees it: "tag NO [code]
// text" or "tag BAD [code] text". cause, when set, goes to the log and
// never to the wire.
type protoError struct {
	bad   bool // BAD (a protocol error) rather than NO
	code  string
	text  string
	cause error
	// counted: a client mistake that counts towards MaxBadCommands.
	counted bool
}

func (e *protoError) Error() string {
	if e.cause != nil {
		return e.text + ": " + e.cause.Error()
	}
	return e.text
}

func (e *protoError) Unwrap() error { return e.cause }

// bad is a protocol error: syntax, wrong state, unknown command. It gets
// BAD and counts towards MaxBadCommands.
func bad(format string, args ...any) error {
	return &protoError{bad: true, text: fmt.Sprintf(format, args...), counted: true}
}

// badCode is bad with a response code.
func badCode(code, format string, args ...any) error {
	return &protoError{bad: true, code: code, text: fmt.Sprintf(format, args...), counted: true}
}

// no is an ordinary negative answer: "NO [code] text".
func no(code, text string) error { return &protoError{code: code, text: text} }

// noCause is no with an internal cause for the log.
func noCause(code, text string, cause error) error {
	return &protoError{code: code, text: text, cause: cause}
}

// endSession ends the session once its reply, if any, is written. bye,
// when set, is sent as "* BYE bye" first.
type endSession struct {
	reason string
	bye    string
	cause  error // logged
}

func (e *endSession) Error() string { return "session ends: " + e.reason }

// replyFor maps any handler error to the tagged reply. It is the only
// place where backend and parser errors become wire text; store errors
// are mapped here, with what the session was doing for the log.
func replyFor(err error) *protoError {
	var pe *protoError
	var we *wire.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &we):
		return &protoError{bad: !we.No, code: we.Code, text: we.Text, counted: true}
	case errors.Is(err, auth.ErrFailed):
		return &protoError{code: codeAuthFailed, text: textAuthFailed}
	case errors.Is(err, store.ErrNotFound):
		return &protoError{code: codeNonExistent, text: "No such mailbox"}
	case errors.Is(err, store.ErrExists):
		return &protoError{code: codeAlreadyExists, text: "Mailbox already exists"}
	case errors.Is(err, store.ErrInvalid):
		return &protoError{code: codeCannot, text: "Invalid mailbox name or operation"}
	case errors.Is(err, store.ErrQuota):
		return &protoError{code: codeOverQuota, text: "Quota exceeded"}
	case errors.Is(err, store.ErrLocked):
		return &protoError{code: codeInUse, text: "Mailbox is in use", cause: err}
	case errors.Is(err, store.ErrTemporary), errors.Is(err, context.DeadlineExceeded):
		return &protoError{code: codeUnavailable, text: textTemp, cause: err}
	}
	return &protoError{code: codeServerBug, text: textInternal, cause: err}
}
