package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// scramSession is the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677)
// without channel binding:
//
//	C: n,,n=user,r=cnonce                         client-first
//	S: r=cnonce+snonce,s=salt,i=4096              server-first
//	C: c=biws,r=cnonce+snonce,p=proof             client-final
//	S: v=server-signature                         server-final
//	C: (empty)                                    -> done
//
// For an unknown account the exchange goes on with a salt derived from the
// process key and fails only at the proof (RFC 5802 §5.1 suggests this), so
// the server-first message does not reveal which accounts exist.
type scramSession struct {
	exchange
	s   *Service
	ctx context.Context

	gs2Header       string // "n,," / "y,," / "n,a=...,", echoed in c=
	clientFirstBare string
	serverFirst     string
	nonce           string // client nonce + server nonce
	keys            scramKeys
	known           bool // keys belong to a real account
	serverFinal     []byte
}

// errSCRAM marks syntax errors; the client sees ErrFailed.
var errSCRAM = errors.New("malformed SCRAM message")

func (c *scramSession) Next(resp []byte) ([]byte, bool, error) {
	if err := c.advance(resp); err != nil {
		return nil, false, err
	}
	switch {
	case c.step == 1 && resp == nil:
		return []byte{}, false, nil
	case c.serverFirst == "":
		first, err := c.clientFirst(string(resp))
		if err != nil {
			return c.finish(store.Account{}, err)
		}
		return []byte(first), false, nil
	case c.serverFinal == nil:
		final, err := c.clientFinal(string(resp))
		if err != nil {
			return c.finish(store.Account{}, err)
		}
		c.serverFinal = final
		return final, false, nil
	default:
		// RFC 5802 §5: the client has checked our signature; its last
		// response is empty.
		if len(resp) != 0 {
			return c.finish(store.Account{}, c.s.fail(c.ctx, c.acct.Address, "SCRAM: unexpected data after server-final"))
		}
		return c.finish(c.acct, nil)
	}
}

// clientFirst parses
//
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
//
// and returns the server-first message.
func (c *scramSession) clientFirst(msg string) (string, error) {
	flag, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return "", c.s.fail(c.ctx, "", "SCRAM client-first: no gs2 header")
	}
	switch {
	case flag == "n", flag == "y":
		// "y": the client could do channel binding but thinks we cannot,
		// which is true; a server that supported -PLUS would refuse here.
	case strings.HasPrefix(flag, "p="):
		return "", c.s.fail(c.ctx, "", "SCRAM client-first: channel binding requested (no -PLUS support)")
	default:
		return "", c.s.fail(c.ctx, "", "SCRAM client-first: bad gs2-cbind-flag")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return "", c.s.fail(c.ctx, "", "SCRAM client-first: short gs2 header")
	}
	var authzid string
	if authz != "" {
		v, ok := strings.CutPrefix(authz, "a=")
		if authzid, ok = decodeSASLName(v, ok); !ok || authzid == "" {
			return "", c.s.fail(c.ctx, "", "SCRAM client-first: bad authzid")
		}
	}
	c.gs2Header = msg[:len(flag)+1+len(authz)+1]
	c.clientFirstBare = bare

	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || strings.HasPrefix(attrs[0], "m=") {
		return "", c.s.fail(c.ctx, "", "SCRAM client-first: bad attributes or mandatory extension")
	}
	n, ok := strings.CutPrefix(attrs[0], "n=")
	user, ok := decodeSASLName(n, ok)
	c.login = user
	cnonce, ok2 := strings.CutPrefix(attrs[1], "r=")
	if !ok || user == "" || !ok2 || !validNonce(cnonce) || !validExtensions(attrs[2:]) {
		return "", c.s.fail(c.ctx, user, "SCRAM client-first: bad username, nonce or extension")
	}
	if authzid != "" && !c.s.sameAccount(authzid, user) {
		return "", c.s.fail(c.ctx, user, "SCRAM authzid differs from username")
	}
	addr, err := c.s.NormalizeLogin(user)
	if err != nil {
		return "", c.s.fail(c.ctx, user, err.Error())
	}
	if err := c.loadKeys(addr); err != nil {
		return "", err
	}
	snonce, err := c.s.serverNonce()
	if err != nil {
		return "", err
	}
	c.nonce = cnonce + snonce
	c.serverFirst = "r=" + c.nonce + ",s=" + base64.StdEncoding.EncodeToString(c.keys.salt) +
		",i=" + strconv.Itoa(c.keys.iterations)
	return c.serverFirst, nil
}

// loadKeys looks the account up and takes its SCRAM keys, or fake ones when
// there is no usable account (only backend errors end the exchange here).
func (c *scramSession) loadKeys(addr string) error {
	acct, err := c.s.lookup(c.ctx, addr)
	if err != nil && !errors.Is(err, ErrFailed) {
		return err
	}
	if err == nil {
		keys, kerr := parseSCRAM(acct.Credentials.SCRAMSHA256)
		if kerr == nil {
			c.acct, c.keys, c.known = acct, keys, true
			return nil
		}
		if acct.Credentials.SCRAMSHA256 != "" {
			c.s.log.WarnContext(c.ctx, "stored SCRAM-SHA-256 credentials are malformed", "login", addr)
		}
	}
	fake := hmacSHA256(c.s.processKey[:], "scram fake salt\x00"+addr)
	c.keys = scramKeys{salt: fake[:scramSaltLen], iterations: c.s.scramIter}
	c.acct = store.Account{Address: addr}
	return nil
}

// clientFinal parses
//
//	client-final-message-without-proof = channel-binding "," nonce ["," extensions]
//	client-final-message = client-final-message-without-proof "," proof
//
// verifies the proof and returns the server-final message.
func (c *scramSession) clientFinal(msg string) ([]byte, error) {
	addr := c.acct.Address
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: no proof")
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+len(",p="):])
	if err != nil || len(proof) != sha256.Size {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: bad proof encoding")
	}
	attrs := strings.Split(withoutProof, ",")
	cb, ok1 := strings.CutPrefix(attrs[0], "c=")
	if len(attrs) < 2 || !ok1 {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: bad attributes")
	}
	nonce, ok2 := strings.CutPrefix(attrs[1], "r=")
	if !ok2 || !validExtensions(attrs[2:]) {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: bad attributes")
	}
	// Without channel binding, c= is the base64 of the gs2 header we got.
	if gs2, err := base64.StdEncoding.DecodeString(cb); err != nil || string(gs2) != c.gs2Header {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: channel binding does not match gs2 header")
	}
	if subtle.ConstantTimeCompare([]byte(nonce), []byte(c.nonce)) != 1 {
		return nil, c.s.fail(c.ctx, addr, "SCRAM client-final: nonce mismatch")
	}
	if !c.known {
		return nil, c.s.fail(c.ctx, addr, "SCRAM: unknown account or no SCRAM credentials")
	}
	authMessage := c.clientFirstBare + "," + c.serverFirst + "," + withoutProof
	// ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof
	// is right iff H(ClientKey) == StoredKey (RFC 5802 §3).
	clientKey := hmacSHA256(c.keys.storedKey, authMessage)
	subtle.XORBytes(clientKey, clientKey, proof)
	sum := sha256.Sum256(clientKey)
	if !hmac.Equal(sum[:], c.keys.storedKey) {
		return nil, c.s.fail(c.ctx, addr, "SCRAM: wrong proof")
	}
	sig := hmacSHA256(c.keys.serverKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(sig)), nil
}

// serverNonce returns the server's part of the nonce: 18 random bytes in
// base64 (printable, no commas). Tests replace it through scramNonce.
func (s *Service) serverNonce() (string, error) {
	if s.scramNonce != nil {
		return s.scramNonce(), nil
	}
	b := make([]byte, 18)
	if _, err := s.random.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// decodeSASLName undoes RFC 5802 saslname escaping ("=2C" is ',', "=3D" is
// '='); any other '=' is an error. ok passes the caller's prefix check
// through, so call sites stay one line.
func decodeSASLName(s string, ok bool) (string, bool) {
	if !ok {
		return "", false
	}
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce: printable ASCII except ',' (RFC 5802 §7), non-empty.
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e || n[i] == ',' {
			return false
		}
	}
	return true
}

// validExtensions accepts "x=value" attributes, which we ignore. (Only
// "m=" is mandatory and it is refused in client-first.)
func validExtensions(attrs []string) bool {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !('a' <= a[0] && a[0] <= 'z' || 'A' <= a[0] && a[0] <= 'Z') {
			return false
		}
	}
	return true
}
