package pop3

import (
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// RFC 2449 §8 and RFC 3206 response codes, all advertised by CAPA
// (RESP-CODES, AUTH-RESP-CODE) and sent where they apply.
const (
	codeInUse      = "IN-USE"      // maildrop locked by another session
	codeLoginDelay = "LOGIN-DELAY" // login too soon after the previous one
	codeSysTemp    = "SYS/TEMP"    // transient backend failure: retry later
	codeSysPerm    = "SYS/PERM"    // permanent backend failure: do not retry
	codeAuth       = "AUTH"        // credentials were refused (RFC 3206 §4)
)

// protoError is a failed command as the client sees it: "-ERR [code] text".
// cause, when set, goes to the log and never to the wire.
type protoError struct {
	code  string
	text  string
	bad   bool // a client mistake, counted towards MaxBadCommands
	cause error
}

func (e *protoError) Error() string {
	if e.cause != nil {
		return e.text + ": " + e.cause.Error()
	}
	return e.text
}

func (e *protoError) Unwrap() error { return e.cause }

// badCommand is a client mistake: syntax, wrong state, no such message.
func badCommand(format string, args ...any) error {
	return &protoError{text: fmt.Sprintf(format, args...), bad: true}
}

// refused is an ordinary negative answer that is not the client's fault.
func refused(code, text string) error { return &protoError{code: code, text: text} }

// endSession ends the session once its reply, if any, is written.
type endSession struct {
	reason string
	cause  error // logged
}

func (e *endSession) Error() string { return "session ends: " + e.reason }

// Reply texts shared by several handlers (Dovecot's wording where it has one).
const (
	textAuthFailed = "Authentication failed"
	textPlaintext  = "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
	textInUse      = "Mailbox is locked by another POP3 session"
	textTemp       = "Temporary server failure, try again later"
	textInternal   = "Internal error occurred. Refer to server log for more information."
)

// replyFor maps any handler error to the reply the client gets. It is the
// only place where backend errors become wire text.
func replyFor(err error) *protoError {
	var pe *protoError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, store.ErrLocked):
		return &protoError{code: codeInUse, text: textInUse}
	case errors.Is(err, auth.ErrFailed):
		return &protoError{code: codeAuth, text: textAuthFailed, bad: true}
	case errors.Is(err, store.ErrTemporary):
		return &protoError{code: codeSysTemp, text: textTemp, cause: err}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalid):
		return &protoError{code: codeSysPerm, text: "Mail data is no longer available", cause: err}
	}
	return &protoError{code: codeSysTemp, text: textInternal, cause: err}
}
