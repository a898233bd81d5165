package pop3

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// cmdAuth: AUTH [mechanism [initial-response]] (RFC 5034).
func (s *session) cmdAuth(args []string) error {
	if len(args) == 0 {
		// Not in RFC 5034, but clients (and Dovecot) use the RFC 1734 form
		// "AUTH" to list mechanisms, terminated like a CAPA list.
		s.ok("")
		w := s.writer()
		for _, m := range s.srv.Auth.Mechanisms(s.plaintextOK()) {
			_, _ = w.WriteString(m)
			_, _ = w.WriteString("\r\n")
		}
		_, _ = w.WriteString(".\r\n")
		return nil
	}
	mech := strings.ToUpper(args[0])
	if !slices.Contains(s.srv.Auth.Mechanisms(s.plaintextOK()), mech) {
		if slices.Contains(s.srv.Auth.Mechanisms(true), mech) {
			return errPlaintext() // PLAIN or LOGIN without TLS
		}
		return badCommand("Unsupported authentication mechanism")
	}
	exchange, err := s.srv.Auth.NewSASL(s.ctx, mech, s.srv.hostname())
	if errors.Is(err, auth.ErrUnknownMechanism) {
		return badCommand("Unsupported authentication mechanism")
	} else if err != nil {
		return err
	}

	var resp []byte // nil: no initial response
	if len(args) == 2 {
		if resp, err = decodeSASL(args[1]); err != nil {
			return err
		}
	}
	for {
		challenge, done, err := exchange.Next(resp)
		if err != nil {
			return s.login(exchange.Login(), store.Account{}, err)
		}
		if done {
			acct := exchange.Account()
			return s.login(acct.Address, acct, nil)
		}
		// RFC 5034 §4: "+ " and the base64 challenge; the client must see
		// it now, so flush.
		w := s.writer()
		_, _ = w.WriteString("+ ")
		_, _ = w.WriteString(base64.StdEncoding.EncodeToString(challenge))
		_, _ = w.WriteString("\r\n")
		if err := s.flush(); err != nil {
			return &endSession{reason: "write failed"}
		}
		line, err := s.readSASLLine()
		switch {
		case errors.Is(err, errLineTooLong):
			return badCommand("Authentication line too long")
		case err != nil:
			return s.readFailed(err)
		case string(line) == "*":
			return refused("", "Authentication aborted by client")
		}
		if resp, err = decodeSASL(string(line)); err != nil {
			return err
		}
	}
}

// decodeSASL decodes one client response (auth.DecodeResponse); bad
// base64 is a client mistake.
func decodeSASL(s string) ([]byte, error) {
	b, err := auth.DecodeResponse(s)
	if err != nil {
		return nil, badCommand("Invalid base64 data")
	}
	return b, nil
}
