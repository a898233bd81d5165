package smtp

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// maxSASLLine bounds the AUTH exchange's response lines (RFC 4954 section
// 4 lets them exceed the command line limit: 12,288 octets).
const maxSASLLine = 12288

// authMechanisms lists what EHLO advertises: nothing on MX; on
// submission, PLAIN and LOGIN only over TLS or from loopback (unless
// auth.allow_plaintext), SCRAM-SHA-256 always.
func (ss *session) authMechanisms() []string {
	if ss.mode != ModeSubmission || ss.srv.Auth == nil {
		return nil
	}
	return ss.srv.Auth.Mechanisms(ss.plaintextOK())
}

func (ss *session) plaintextOK() bool {
	return ss.tls != nil || ss.ip.IsLoopback() || ss.srv.AllowPlaintext
}

// cmdAUTH: AUTH mechanism [initial-response] (RFC 4954), run with one of
// internal/auth's SASL sessions: "334 challenge" lines and base64
// response lines until it is done, fails, or the client sends "*".
func (ss *session) cmdAUTH(arg []byte) *Reply {
	if ss.mode != ModeSubmission || ss.srv.Auth == nil {
		return errAuthNotOnMX
	}
	if ss.account != nil {
		return errAlreadyAuth
	}
	f := strings.Fields(string(arg))
	if len(f) == 0 || len(f) > 2 {
		return syntaxError("Syntax: AUTH mechanism [initial-response]")
	}
	mech := strings.ToUpper(f[0])
	if !slices.Contains(ss.srv.Auth.Mechanisms(ss.plaintextOK()), mech) {
		if slices.Contains(ss.srv.Auth.Mechanisms(true), mech) {
			return errEncryptionReq // RFC 4954 section 4
		}
		return errAuthMechanism
	}
	ex, err := ss.srv.Auth.NewSASL(ss.ctx, mech, ss.srv.hostname())
	if err != nil {
		return errAuthMechanism
	}
	var resp []byte // nil: no initial response
	if len(f) == 2 {
		if resp, err = auth.DecodeResponse(f[1]); err != nil {
			return errBadBase64
		}
	}
	for {
		challenge, done, err := ex.Next(resp)
		switch {
		case err != nil && errors.Is(err, store.ErrTemporary):
			ss.log.Warn("smtp: authentication backend failure", "err", err)
			return errAuthTemporary
		case err != nil:
			// The wire says nothing about why; the delay grows with
			// repeated failures from this address (as for POP3).
			login := ex.Login()
			delay := ss.srv.Auth.LoginFailed(ss.ctx, login, ss.ip)
			ss.log.Info("smtp: authentication failed", "login", login, "delay", delay)
			return errAuthFailed
		case done:
			acct := ex.Account()
			ss.account = &acct
			ss.srv.Auth.LoginSucceeded(acct.Address, ss.ip)
			ss.log = ss.log.With("user", acct.Address)
			ss.log.Info("smtp: authenticated")
			return reply(235, 2, 7, 0, "Authentication succeeded")
		}
		ss.writeReply(&Reply{Code: 334, Message: base64.StdEncoding.EncodeToString(challenge)})
		if err := ss.flush(); err != nil {
			ss.endReason, ss.closing = "write failed", true
			return nil
		}
		line, err := ss.readLine(maxSASLLine)
		if err != nil {
			ss.readFailed(err)
			ss.closing = true
			return nil
		}
		if string(line) == "*" {
			return errAuthCancelled
		}
		if resp, err = auth.DecodeResponse(string(line)); err != nil {
			return errBadBase64
		}
	}
}
