package imap

import (
	"errors"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/pochta-mail/pochta/internal/store"
)

var (
	errPrivacy = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodePrivacyRequired,
		Text: "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."}
	errUnavailable = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeUnavailable,
		Text: textTemp}
	errReadOnly = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeCannot,
		Text: "Mailbox is read-only (EXAMINE)"}
)

func no(code goimap.ResponseCode, text string) error {
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: code, Text: text}
}

// fail maps a store error to the client's NO. It is the one place backend
// errors become wire text; the cause goes to the log only.
func (s *session) fail(what string, err error) error {
	var ie *goimap.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, store.ErrNotFound):
		return no(goimap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(goimap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrInvalid):
		return no(goimap.ResponseCodeCannot, "Invalid mailbox name or operation")
	case errors.Is(err, store.ErrQuota):
		return no(goimap.ResponseCodeOverQuota, "Quota exceeded")
	case errors.Is(err, store.ErrTemporary):
		s.logger().Warn("imap: "+what, "err", err)
		return errUnavailable
	}
	s.logger().Error("imap: "+what, "err", err)
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeServerBug,
		Text: "Internal error occurred. Refer to server log for more information."}
}
