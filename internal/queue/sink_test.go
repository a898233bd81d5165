package queue

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// sink is a scripted SMTP server on loopback playing the remote side:
// it records what it receives and answers as its hooks say.
type sink struct {
	srv  *smtp.Server
	addr *net.TCPAddr

	mu       sync.Mutex
	received []received
	sessions int    // open now
	peak     int    // most open at once
	conns    int    // sessions ever opened (connections accepted)
	resumed  []bool // per MAIL on TLS: the session was resumed
	tls      []bool
	auths    []string
	mailArgs []*smtp.MailOptions
	// rcpt, when set, answers RCPT (nil = accept); data answers the end
	// of DATA. n counts calls of each, from 1.
	rcpt func(addr string, n int) error
	data func(n int) error
	// auth, when set, is the PLAIN password the sink requires.
	password string
	rcptN    int
	dataN    int
}

type received struct {
	from string
	to   []string
	body string
}

func newSink(t testing.TB, withTLS bool) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.conns++
		s.peak = max(s.peak, s.sessions)
		s.mu.Unlock()
		return &sinkSession{s: s, c: c}, nil
	}))
	srv.Domain = "mx.remote.test"
	srv.EnableSMTPUTF8, srv.EnableDSN = true, true
	srv.MaxMessageBytes = 1 << 20
	if withTLS {
		dir := t.TempDir()
		cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: "mx.remote.test"}, cert, key); err != nil {
			t.Fatal(err)
		}
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.srv, s.addr = srv, l.Addr().(*net.TCPAddr)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *sink) port() string { return strconv.Itoa(s.addr.Port) }

// stats returns the connections accepted so far and the sessions open now.
func (s *sink) stats() (conns, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns, s.sessions
}

func (s *sink) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.received...)
}

// count returns how often rcpt was in an accepted message.
func (s *sink) count(rcpt string) int {
	n := 0
	for _, m := range s.messages() {
		for _, to := range m.to {
			if to == rcpt {
				n++
			}
		}
	}
	return n
}

type sinkSession struct {
	s    *sink
	c    *smtp.Conn
	from string
	to   []string
}

func (ss *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		ss.s.mu.Lock()
		defer ss.s.mu.Unlock()
		if password != ss.s.password {
			return errors.New("bad password")
		}
		ss.s.auths = append(ss.s.auths, username)
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, opts *smtp.MailOptions) error {
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.password != "" && len(ss.s.auths) == 0 {
		return smtp.ErrAuthRequired
	}
	cs, isTLS := ss.c.TLSConnectionState()
	ss.s.tls = append(ss.s.tls, isTLS)
	if isTLS {
		ss.s.resumed = append(ss.s.resumed, cs.DidResume)
	}
	ss.s.mailArgs = append(ss.s.mailArgs, opts)
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	ss.s.rcptN++
	n, hook := ss.s.rcptN, ss.s.rcpt
	ss.s.mu.Unlock()
	if hook != nil {
		if err := hook(to, n); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.dataN++
	n, hook := ss.s.dataN, ss.s.data
	ss.s.mu.Unlock()
	if hook != nil {
		if err := hook(n); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, received{from: ss.from, to: ss.to, body: string(b)})
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.to = "", nil }

func (ss *sinkSession) Logout() error {
	ss.s.mu.Lock()
	ss.s.sessions--
	ss.s.mu.Unlock()
	return nil
}

// smtpErr is a scripted negative reply.
func smtpErr(code int, enhanced string, text string) error {
	var ec smtp.EnhancedCode
	for i, p := range strings.Split(enhanced, ".") {
		ec[i], _ = strconv.Atoi(p)
	}
	return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: text}
}
