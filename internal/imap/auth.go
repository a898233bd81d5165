package imap

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// plaintextOK reports whether cleartext passwords may cross this
// connection: over TLS, from loopback, or when the server allows it
// (RFC 9051 §6.2.3: LOGINDISABLED otherwise).
func (s *session) plaintextOK() bool {
	return s.isTLS || s.loopback || s.srv.AllowPlaintext
}

var errPrivacy = &protoError{code: codePrivacyReq, text: textPlaintext}

// cmdLogin: LOGIN userid password (RFC 9051 §6.2.3).
func (s *session) cmdLogin(string, bool) error {
	user, err := s.spAString()
	if err != nil {
		return err
	}
	pass, err := s.spAString()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	if !s.plaintextOK() {
		return errPrivacy
	}
	acct, err := s.srv.Auth.CheckPassword(s.ctx, user, pass)
	return s.loggedIn(user, acct, err)
}

// cmdAuthenticate: AUTHENTICATE mechanism [initial-response] (RFC 9051
// §6.2.2, RFC 4959 SASL-IR).
func (s *session) cmdAuthenticate(string, bool) error {
	if err := s.p.SP(); err != nil {
		return err
	}
	mech, err := s.p.Atom()
	if err != nil {
		return err
	}
	var resp []byte // nil: no initial response
	if !s.p.AtEnd() {
		if err := s.p.SP(); err != nil {
			return err
		}
		ir, err := s.p.Atom() // base64 chars and "=" are atom chars
		if err != nil {
			return err
		}
		if resp, err = decodeSASL(ir); err != nil {
			return err
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	mech = strings.ToUpper(mech)
	if !slices.Contains(s.srv.Auth.Mechanisms(s.plaintextOK()), mech) {
		if slices.Contains(s.srv.Auth.Mechanisms(true), mech) {
			return errPrivacy // PLAIN or LOGIN without TLS
		}
		return no(codeCannot, "Unsupported authentication mechanism")
	}
	exchange, err := s.srv.Auth.NewSASL(s.ctx, mech, s.srv.hostname())
	if errors.Is(err, auth.ErrUnknownMechanism) {
		return no(codeCannot, "Unsupported authentication mechanism")
	} else if err != nil {
		return err
	}
	for {
		challenge, done, err := exchange.Next(resp)
		if err != nil {
			return s.loggedIn(exchange.Login(), store.Account{}, err)
		}
		if done {
			acct := exchange.Account()
			return s.loggedIn(acct.Address, acct, nil)
		}
		s.w.Raw("+ ")
		s.w.Raw(base64.StdEncoding.EncodeToString(challenge))
		s.w.CRLF()
		if err := s.w.Flush(); err != nil {
			return &endSession{reason: "write failed"}
		}
		line, err := s.p.ReadLine()
		if err != nil {
			return err
		}
		if line == "*" {
			return bad("Authentication aborted by client")
		}
		if resp, err = decodeSASL(line); err != nil {
			return err
		}
	}
}

// decodeSASL decodes one client response (auth.DecodeResponse); bad
// base64 is a client mistake.
func decodeSASL(s string) ([]byte, error) {
	b, err := auth.DecodeResponse(s)
	if err != nil {
		return nil, bad("Invalid base64 data")
	}
	return b, nil
}

// loggedIn finishes an authentication attempt of any kind: on failure it
// waits out the throttle and answers NO [AUTHENTICATIONFAILED]; on
// success the session enters the authenticated state.
func (s *session) loggedIn(login string, acct store.Account, err error) error {
	if err != nil {
		if !errors.Is(err, auth.ErrFailed) {
			return err // backend trouble: [UNAVAILABLE], nothing to throttle
		}
		s.log.Info("imap: login failed", "login", truncate(login, 64))
		s.srv.Auth.LoginFailed(s.ctx, login, s.ip)
		return err
	}
	s.srv.Auth.LoginSucceeded(login, s.ip)
	s.account = &acct
	s.state = stateAuthenticated
	s.p.SetLimits(s.authLimits())
	s.log = s.log.With("user", acct.Address)
	s.log.Info("imap: logged in")
	// RFC 9051 §6.2.3: the OK may carry the new capabilities.
	s.okCode = "CAPABILITY " + s.capsString()
	s.okText = "Logged in"
	return nil
}

// authLimits are the parser limits once logged in: non-synchronising
// literals may be skipped up to the APPEND limit.
func (s *session) authLimits() wire.Limits {
	l := authLimits
	l.MaxSkip = s.srv.appendLimit()
	return l
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
