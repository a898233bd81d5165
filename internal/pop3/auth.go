package pop3

import (
	"errors"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// plaintextOK reports whether cleartext passwords may cross this
// connection: over TLS, from loopback, or when the server allows it
// (RFC 2595 §2.1 asks servers to refuse them otherwise).
func (s *session) plaintextOK() bool {
	return s.isTLS || s.loopback || s.srv.AllowPlaintext
}

func errPlaintext() error {
	return &protoError{code: codeAuth, text: textPlaintext, bad: true}
}

// cmdUser: USER name (RFC 1939 §7). The answer never tells whether the
// mailbox exists.
func (s *session) cmdUser(args []string) error {
	if !s.plaintextOK() {
		return errPlaintext()
	}
	s.user = args[0]
	s.ok("")
	return nil
}

// cmdPass: PASS string, right after USER.
func (s *session) cmdPass(args []string) error {
	if !s.plaintextOK() {
		return errPlaintext()
	}
	if s.user == "" {
		return badCommand("No username given")
	}
	login := s.user
	s.user = "" // RFC 1939: after a failed PASS the client starts over with USER
	acct, err := s.srv.Auth.CheckPassword(s.ctx, login, args[0])
	return s.login(login, acct, err)
}

// cmdAPOP: APOP name digest (RFC 1939 §7), only when the greeting carried a
// timestamp, i.e. legacy mechanisms are on.
func (s *session) cmdAPOP(args []string) error {
	if s.apopStamp == "" {
		return badCommand("APOP is not available")
	}
	acct, err := s.srv.Auth.CheckAPOP(s.ctx, args[0], s.apopStamp, args[1])
	return s.login(args[0], acct, err)
}

// login finishes an authentication attempt of any kind: on failure it
// waits out the throttle and answers "-ERR [AUTH]"; on success it applies
// LOGIN-DELAY and EXPIRE, opens (locks) the maildrop and enters
// TRANSACTION.
func (s *session) login(login string, acct store.Account, err error) error {
	if err != nil {
		if !errors.Is(err, auth.ErrFailed) {
			return err // backend trouble: [SYS/TEMP], nothing to throttle
		}
		s.log.Info("pop3: login failed", "login", s.logLogin(login), "err", err)
		s.srv.Auth.LoginFailed(s.ctx, login, s.ip)
		return err // replyFor: -ERR [AUTH] Authentication failed
	}
	s.srv.Auth.LoginSucceeded(login, s.ip)

	now := s.srv.now()
	if s.srv.loginTooSoon(s.ctx, acct.ID, now) {
		// RFC 2449 §6.5 and §8.1.2: [LOGIN-DELAY].
		return refused(codeLoginDelay, "Minimum time between logins has not passed")
	}
	if s.srv.Expire > 0 {
		// Expiry needs the maildrop unlocked, so it runs before opening it.
		// A failure only postpones expiry, so it does not refuse the login.
		if n, err := s.srv.Maildrops.Expire(s.ctx, acct.ID, now.Add(-s.srv.Expire)); err != nil {
			s.log.Warn("pop3: expiring messages", "user", acct.Address, "err", err)
		} else if n > 0 {
			s.log.Info("pop3: expired messages", "user", acct.Address, "count", n)
		}
	}
	drop, err := s.srv.Maildrops.OpenMaildrop(s.ctx, acct.ID)
	if err != nil {
		return err // ErrLocked -> [IN-USE]; others -> [SYS/...]
	}
	if err := s.srv.recordLogin(s.ctx, acct.ID, now); err != nil {
		// Only other nodes' LOGIN-DELAY misses this login.
		s.log.Warn("pop3: recording the login for LOGIN-DELAY", "err", err)
	}
	s.enterTransaction(acct, drop)
	s.okf("Logged in, %d messages (%d octets)", len(s.msgs), s.totalSize)
	return nil
}

// logLogin is the login as logs show it: normalised when possible.
func (s *session) logLogin(login string) string {
	if n, err := s.srv.Auth.NormalizeLogin(login); err == nil {
		return n
	}
	if len(login) > 64 {
		return login[:64] + "..."
	}
	return login
}

// enterTransaction fixes the maildrop view for the rest of the session.
func (s *session) enterTransaction(acct store.Account, drop store.Maildrop) {
	s.account = acct
	s.drop = drop
	s.msgs = drop.Messages()
	s.deleted = make([]bool, len(s.msgs))
	s.totalSize = 0
	for _, m := range s.msgs {
		s.totalSize += m.Size
	}
	s.state = stateTransaction
	s.user = ""
	s.log = s.log.With("user", acct.Address)
}
