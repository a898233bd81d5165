package imap

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// session is one connection's IMAP state: the logged-in account and the
// selected mailbox's view. The library calls its methods from one
// goroutine, except Idle, which runs while that goroutine waits for DONE.
type session struct {
	srv     *Server
	f       *front
	ctx     context.Context
	cancel  context.CancelFunc
	account *store.Account
	sel     *view // nil unless a mailbox is selected
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	f, ok := c.NetConn().(*front)
	if !ok {
		return nil, nil, errors.New("imap: connection did not come through ServeConn")
	}
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{srv: s, f: f, ctx: ctx, cancel: cancel}
	f.sess.Store(sess)
	return detached{sess}, nil, nil
}

func (s *session) authenticated() bool { return s.account != nil }

func (s *session) logger() *slog.Logger { return s.f.logger() }

// Close is called by the library when the connection ends.
func (s *session) Close() error {
	s.cancel()
	if s.sel != nil {
		s.sel.close()
		s.sel = nil
	}
	return nil
}

// Login implements LOGIN.
func (s *session) Login(username, password string) error {
	if !s.f.plaintextOK() {
		return errPrivacy
	}
	acct, err := s.srv.Auth.CheckPassword(s.ctx, username, password)
	return s.loggedIn(username, acct, err)
}

// loggedIn finishes any authentication: on failure it waits out the
// throttle and answers [AUTHENTICATIONFAILED].
func (s *session) loggedIn(login string, acct store.Account, err error) error {
	if err != nil {
		if !errors.Is(err, auth.ErrFailed) {
			s.logger().Warn("imap: checking credentials", "err", err)
			return errUnavailable
		}
		s.logger().Info("imap: login failed", "login", truncate(login, 64))
		s.srv.Auth.LoginFailed(s.ctx, login, s.f.ip)
		return imapserver.ErrAuthFailed
	}
	s.srv.Auth.LoginSucceeded(login, s.f.ip)
	s.account = &acct
	s.f.user.Store(&acct.Address)
	s.logger().Info("imap: logged in")
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// AuthenticateMechanisms lists the SASL mechanisms this connection may use.
func (s *session) AuthenticateMechanisms() []string {
	return s.srv.Auth.Mechanisms(s.f.plaintextOK())
}

// Authenticate starts a SASL exchange with internal/auth's mechanism.
func (s *session) Authenticate(mech string) (sasl.Server, error) {
	mech = strings.ToUpper(mech)
	if !slices.Contains(s.srv.Auth.Mechanisms(s.f.plaintextOK()), mech) {
		if slices.Contains(s.srv.Auth.Mechanisms(true), mech) {
			return nil, errPrivacy
		}
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	x, err := s.srv.Auth.NewSASL(s.ctx, mech, s.srv.hostname())
	if err != nil {
		return nil, &goimap.Error{Type: goimap.StatusResponseTypeNo, Text: "Unsupported authentication mechanism"}
	}
	return &saslServer{s: s, x: x}, nil
}

// saslServer adapts an auth.SASLSession to the library's sasl.Server.
type saslServer struct {
	s *session
	x auth.SASLSession
}

func (a *saslServer) Next(response []byte) ([]byte, bool, error) {
	type step struct {
		challenge []byte
		done      bool
	}
	r, err := detach(a.s, func() (step, error) {
		c, d, err := a.x.Next(response)
		return step{c, d}, err
	})
	challenge, done := r.challenge, r.done
	if err != nil {
		return nil, false, a.s.loggedIn("", store.Account{}, err)
	}
	if done {
		acct := a.x.Account()
		return nil, true, a.s.loggedIn(acct.Address, acct, nil)
	}
	return challenge, false, nil
}

// Namespace: one personal namespace, "" with "/" (RFC 2342).
func (s *session) Namespace() (*goimap.NamespaceData, error) {
	return &goimap.NamespaceData{Personal: []goimap.NamespaceDescriptor{{Prefix: "", Delim: store.Delimiter}}}, nil
}

// AppendLimit is the APPENDLIMIT announced (RFC 7889).
func (s *session) AppendLimit() uint32 { return uint32(s.srv.appendLimit()) }
