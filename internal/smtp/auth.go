package smtp

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// AuthMechanisms lists what EHLO advertises: nothing on MX; on
// submission, PLAIN and LOGIN only over TLS or from loopback (unless
// auth.allow_plaintext), SCRAM-SHA-256 always.
func (ss *session) AuthMechanisms() []string {
	if ss.c.mode != ModeSubmission || ss.srv.Auth == nil {
		return nil
	}
	return ss.srv.Auth.Mechanisms(ss.plaintextOK())
}

func (ss *session) plaintextOK() bool {
	_, tls := isTLS(ss.gc.Conn())
	return tls || ss.c.ip.IsLoopback() || ss.srv.AllowPlaintext
}

// Auth starts an exchange with one of our SASL sessions.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.c.mode != ModeSubmission || ss.srv.Auth == nil {
		return nil, ss.refuse(errAuthNotOnMX)
	}
	mech = strings.ToUpper(mech)
	if !slices.Contains(ss.srv.Auth.Mechanisms(ss.plaintextOK()), mech) {
		if slices.Contains(ss.srv.Auth.Mechanisms(true), mech) {
			return nil, ss.refuse(errEncryptionReq) // RFC 4954 section 4
		}
		return nil, ss.refuse(gosmtp.ErrAuthUnknownMechanism)
	}
	ex, err := ss.srv.Auth.NewSASL(ss.c.ctx, mech, ss.srv.hostname())
	if err != nil {
		return nil, ss.refuse(gosmtp.ErrAuthUnknownMechanism)
	}
	return &saslAdapter{ss: ss, ex: ex}, nil
}

// saslAdapter makes an auth.SASLSession a go-sasl sasl.Server: the two
// share the Next contract (nil = no initial response), so it only adds
// what happens at the end: the throttle on failure, the account on
// success.
type saslAdapter struct {
	ss *session
	ex auth.SASLSession
}

func (a *saslAdapter) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := a.ex.Next(response)
	ss := a.ss
	switch {
	case err != nil && errors.Is(err, store.ErrTemporary):
		ss.c.log.Warn("smtp: authentication backend failure", "err", err)
		return nil, false, errAuthTemporary
	case err != nil:
		// The wire says nothing about why; the delay grows with repeated
		// failures from this address (as for POP3).
		login := a.ex.Login()
		delay := ss.srv.Auth.LoginFailed(ss.c.ctx, login, ss.c.ip)
		ss.c.log.Info("smtp: authentication failed", "login", login, "delay", delay)
		return nil, false, ss.refuse(gosmtp.ErrAuthFailed)
	case done:
		acct := a.ex.Account()
		ss.account = &acct
		ss.srv.Auth.LoginSucceeded(acct.Address, ss.c.ip)
		ss.c.log = ss.c.log.With("user", acct.Address)
		ss.c.log.Info("smtp: authenticated")
	}
	return challenge, done, nil
}
