package main

import (
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/store"
)

// Exit codes (docs/CLI.md). Delivery codes are sysexits(3), which MTAs such
// as Postfix's pipe(8) and local(8) map to bounce or retry.
const (
	exitOK          = 0
	exitError       = 1  // the command failed (exists, not found, bind error...)
	exitUsage       = 64 // EX_USAGE: bad command line
	exitDataErr     = 65 // EX_DATAERR: deliver --uidl refused (invalid or duplicate)
	exitNoUser      = 67 // EX_NOUSER: deliver to an unknown recipient
	exitUnavailable = 69 // EX_UNAVAILABLE: message larger than limits.max_message_size
	exitTempFail    = 75 // EX_TEMPFAIL: temporary failure, try again later
	exitNoPerm      = 77 // EX_NOPERM: the recipient's Sieve script rejected the message
	exitConfig      = 78 // EX_CONFIG: configuration error
)

// codeError carries an exit code with its error.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

func usageErr(err error) error { return withCode(exitUsage, err) }

func usagef(format string, a ...any) error { return usageErr(fmt.Errorf(format, a...)) }

// exitCode maps an error to the exit code: an explicit code wins, then a
// temporary store failure is EX_TEMPFAIL (a retry may work), and anything
// else is a plain failure.
func exitCode(err error) int {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	if isKind(err, admin.Invalid) {
		return exitUsage
	}
	if errors.Is(err, store.ErrTemporary) {
		return exitTempFail
	}
	return exitError
}

// isKind reports whether err is an admin error of kind k.
func isKind(err error, k admin.Kind) bool {
	var ae *admin.Error
	return errors.As(err, &ae) && ae.Kind == k
}
