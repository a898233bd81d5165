package smtp

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// scramClient is the client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as a
// go-sasl Client, so the test proves go-smtp carries our SCRAM exchange,
// including the server-final message and its empty answer (RFC 4954).
type scramClient struct {
	user, pass, nonce string
	bare, serverSig   string
	step              int
}

func (c *scramClient) Start() (string, []byte, error) {
	c.bare = "n=" + c.user + ",r=" + c.nonce
	return "SCRAM-SHA-256", []byte("n,," + c.bare), nil
}

func (c *scramClient) Next(challenge []byte) ([]byte, error) {
	c.step++
	if c.step == 2 { // server-final: check the server knew our password
		if string(challenge) != "v="+c.serverSig {
			return nil, errors.New("bad server signature")
		}
		return []byte{}, nil
	}
	attrs := map[string]string{}
	for _, kv := range strings.Split(string(challenge), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			attrs[k] = v
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(attrs["s"])
	iter, _ := strconv.Atoi(attrs["i"])
	salted, err := pbkdf2.Key(sha256.New, c.pass, salt, iter, 32)
	if err != nil {
		return nil, err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	final := "c=biws,r=" + attrs["r"]
	authMsg := c.bare + "," + string(challenge) + "," + final
	sig := mac(stored[:], authMsg)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	c.serverSig = base64.StdEncoding.EncodeToString(mac(mac(salted, "Server Key"), authMsg))
	return []byte(final + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

func TestSubmissionSCRAM(t *testing.T) {
	e := newEnv(t, envOptions{remote: true}) // no TLS needed for SCRAM
	c := e.dial(ModeSubmission)
	if err := c.Auth(&scramClient{user: "alice@example.org", pass: testPass, nonce: "fyko+d2lbbFgONRv9qkxdawL"}); err != nil {
		t.Fatalf("AUTH SCRAM-SHA-256: %v", err)
	}
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, "Subject: scram\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	bad := e.dial(ModeSubmission)
	wantCode(t, "SCRAM with a wrong password", bad.Auth(&scramClient{user: "alice@example.org", pass: "wrong", nonce: "abc"}), 535, "5.7.8")
}
