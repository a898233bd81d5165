package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// SASL mechanism names as advertised.
const (
	mechPLAIN       = "PLAIN"
	mechLOGIN       = "LOGIN"
	mechSCRAMSHA256 = "SCRAM-SHA-256"
	mechCRAMMD5     = "CRAM-MD5"
)

// maxSASLResponse bounds one decoded client response; protocol servers bound
// their lines too, this keeps the mechanisms safe on their own.
const maxSASLResponse = 8192

// errExchangeOver is returned by Next after the exchange ended.
var errExchangeOver = errors.New("auth: SASL exchange already finished")

// SASLSession is one server-side SASL exchange.
type SASLSession interface {
	// Next takes the decoded client response: nil when the client gave no
	// initial response (first call only), else the bytes (possibly empty).
	// It returns the next challenge to send, or done=true on success.
	// A non-nil error ends the exchange (ErrFailed for bad credentials/syntax).
	// SCRAM: Next(nil)->"" ; Next(client-first)->server-first ;
	// Next(client-final)->server-final (done=false) ; Next(empty)->done=true.
	// PLAIN: Next(nil)->"" ; Next(creds)->done. LOGIN: Next(nil)->"Username:" ; ->"Password:" ; ->done.
	// CRAM-MD5: Next(nil)-> "<random.time@host>" ; Next("user hexdigest")->done.
	Next(response []byte) (challenge []byte, done bool, err error)
	Account() store.Account // valid after done
	// Login is the identity the client has claimed so far ("" before it
	// named one), so a failed exchange is throttled and logged under the
	// account it tried, like a failed USER/PASS.
	Login() string
}

// NewSASL starts a server-side exchange for mech (case-insensitive). PLAIN
// and LOGIN are always available here: whether to offer them without TLS is
// the protocol server's call (see Mechanisms). CRAM-MD5 exists only when
// Legacy is on; host goes into its challenge. ctx bounds the account
// lookups and password checks made during the exchange.
//
// PLAIN and LOGIN are written here rather than taken from emersion/go-sasl:
// they are a few lines each, and this way every mechanism follows the same
// Next contract, error values and logging.
func (s *Service) NewSASL(ctx context.Context, mech string, host string) (SASLSession, error) {
	switch strings.ToUpper(mech) {
	case mechPLAIN:
		return &plainSession{s: s, ctx: ctx}, nil
	case mechLOGIN:
		return &loginSession{s: s, ctx: ctx}, nil
	case mechSCRAMSHA256:
		return &scramSession{s: s, ctx: ctx}, nil
	case mechCRAMMD5:
		if s.legacy {
			return &cramSession{s: s, ctx: ctx, host: host}, nil
		}
	}
	return nil, ErrUnknownMechanism
}

// exchange holds the bookkeeping every mechanism shares: which step it is
// at, whether it ended, and the account once done.
type exchange struct {
	step  int
	over  bool
	acct  store.Account
	login string // claimed identity, see Login
}

func (e *exchange) Account() store.Account { return e.acct }
func (e *exchange) Login() string          { return e.login }

// advance starts a step. It refuses calls after the end and over-long
// responses (ending the exchange).
func (e *exchange) advance(resp []byte) error {
	if e.over {
		return errExchangeOver
	}
	e.step++
	if len(resp) > maxSASLResponse {
		e.over = true
		return ErrFailed
	}
	return nil
}

// finish ends the exchange with err (nil = success, acct authenticated).
func (e *exchange) finish(acct store.Account, err error) ([]byte, bool, error) {
	e.over = true
	if err != nil {
		return nil, false, err
	}
	e.acct = acct
	return nil, true, nil
}

// plainSession implements PLAIN (RFC 4616): one message
// "authzid NUL authcid NUL passwd". We do not support acting as another
// user, so authzid must be empty or name the same account as authcid.
type plainSession struct {
	exchange
	s   *Service
	ctx context.Context
}

func (p *plainSession) Next(resp []byte) ([]byte, bool, error) {
	if err := p.advance(resp); err != nil {
		return nil, false, err
	}
	if resp == nil && p.step == 1 {
		return []byte{}, false, nil
	}
	return p.finish(p.check(resp))
}

func (p *plainSession) check(resp []byte) (store.Account, error) {
	f := bytes.Split(resp, []byte{0})
	if len(f) != 3 {
		return store.Account{}, p.s.fail(p.ctx, "", "malformed PLAIN message")
	}
	authzid, authcid, passwd := string(f[0]), string(f[1]), string(f[2])
	p.login = authcid
	if authzid != "" && !p.s.sameAccount(authzid, authcid) {
		return store.Account{}, p.s.fail(p.ctx, authcid, "PLAIN authzid differs from authcid")
	}
	return p.s.CheckPassword(p.ctx, authcid, passwd)
}

// sameAccount reports whether two logins normalise to the same address.
func (s *Service) sameAccount(a, b string) bool {
	na, err1 := s.NormalizeLogin(a)
	nb, err2 := s.NormalizeLogin(b)
	return err1 == nil && err2 == nil && na == nb
}

// loginSession implements the non-standard but ubiquitous LOGIN mechanism
// (draft-murchison-sasl-login): "Username:" then "Password:". A client may
// send the username as the initial response.
type loginSession struct {
	exchange
	s        *Service
	ctx      context.Context
	username string
}

func (l *loginSession) Next(resp []byte) ([]byte, bool, error) {
	if err := l.advance(resp); err != nil {
		return nil, false, err
	}
	switch {
	case l.step == 1 && resp == nil:
		return []byte("Username:"), false, nil
	case l.username == "":
		l.username = string(resp)
		l.login = l.username
		if l.username == "" {
			return l.finish(store.Account{}, l.s.fail(l.ctx, "", "empty LOGIN username"))
		}
		return []byte("Password:"), false, nil
	default:
		return l.finish(l.s.CheckPassword(l.ctx, l.username, string(resp)))
	}
}

// cramSession implements CRAM-MD5 (RFC 2195): the server sends a unique
// "<random.time@host>" challenge, the client answers "user HMAC-MD5(secret,
// challenge)" in lower-case hex. It needs the plaintext-equivalent legacy
// secret, hence opt-in.
type cramSession struct {
	exchange
	s         *Service
	ctx       context.Context
	host      string
	challenge string
}

func (c *cramSession) Next(resp []byte) ([]byte, bool, error) {
	if err := c.advance(resp); err != nil {
		return nil, false, err
	}
	if c.step == 1 {
		if resp != nil {
			// CRAM-MD5 starts with the server; an initial response is a
			// protocol error.
			return c.finish(store.Account{}, c.s.fail(c.ctx, "", "CRAM-MD5 initial response"))
		}
		var r [8]byte
		if _, err := c.s.random.Read(r[:]); err != nil {
			return c.finish(store.Account{}, err)
		}
		c.challenge = "<" + strconv.FormatUint(binary.BigEndian.Uint64(r[:]), 10) + "." +
			strconv.FormatInt(c.s.now().Unix(), 10) + "@" + c.host + ">"
		return []byte(c.challenge), false, nil
	}
	return c.finish(c.check(resp))
}

func (c *cramSession) check(resp []byte) (store.Account, error) {
	i := bytes.LastIndexByte(resp, ' ')
	if i < 0 {
		return store.Account{}, c.s.fail(c.ctx, "", "malformed CRAM-MD5 response")
	}
	login, digest := string(resp[:i]), string(resp[i+1:])
	c.login = login
	acct, secret, err := c.s.legacyAccount(c.ctx, login)
	if err != nil {
		return store.Account{}, err
	}
	if !equalHex(cramDigest(secret, c.challenge), digest) {
		return store.Account{}, c.s.fail(c.ctx, acct.Address, "wrong CRAM-MD5 digest")
	}
	return acct, nil
}

// cramDigest is HMAC-MD5(secret, challenge), the CRAM-MD5 proof.
func cramDigest(secret, challenge string) []byte {
	m := hmac.New(md5.New, []byte(secret))
	m.Write([]byte(challenge))
	return m.Sum(nil)
}

// ErrBadBase64 is a client response that is not base64: a protocol
// error (IMAP BAD, POP3 -ERR), not a failed authentication.
var ErrBadBase64 = errors.New("auth: invalid base64 in SASL response")

// DecodeResponse decodes one client SASL response as IMAP (RFC 4959 3)
// and POP3 (RFC 5034 4) send it: base64, with "=" the empty initial
// response; an empty continuation line is empty too.
func DecodeResponse(s string) ([]byte, error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadBase64
	}
	return b, nil
}
