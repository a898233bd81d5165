package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scramKeys are the RFC 5802 §3 values a server stores for SCRAM-SHA-256.
// They let the server verify a client proof and prove itself, but not log in
// as the user elsewhere without the password (ClientKey is not stored).
type scramKeys struct {
	salt       []byte
	iterations int
	storedKey  []byte // H(ClientKey)
	serverKey  []byte // HMAC(SaltedPassword, "Server Key")
}

const (
	scramSaltLen = 16
	// scramMaxIterations bounds the count read back from the store; the
	// client does the PBKDF2 work but a huge count would stall every login.
	scramMaxIterations = 1 << 20
	scramPrefix        = "SCRAM-SHA-256$"
)

var errBadSCRAM = errors.New("auth: malformed SCRAM-SHA-256 credentials")

// deriveSCRAM computes the stored keys from a password (RFC 5802 §3).
// Passwords are used as their UTF-8 bytes: we do not apply SASLprep (no
// stringprep tables in the module set), which is the identity for ASCII.
func deriveSCRAM(password string, salt []byte, iterations int) (scramKeys, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return scramKeys{}, fmt.Errorf("auth: deriving SCRAM keys: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return scramKeys{
		salt:       salt,
		iterations: iterations,
		storedKey:  stored[:],
		serverKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

// String encodes the keys the way RFC 5803 writes them for LDAP, which is
// also what Credentials.SCRAMSHA256 holds:
//
//	SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
func (k scramKeys) String() string {
	e := base64.StdEncoding.EncodeToString
	return scramPrefix + strconv.Itoa(k.iterations) + ":" + e(k.salt) + "$" + e(k.storedKey) + ":" + e(k.serverKey)
}

// parseSCRAM decodes the String form.
func parseSCRAM(s string) (scramKeys, error) {
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return scramKeys{}, errBadSCRAM
	}
	params, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return scramKeys{}, errBadSCRAM
	}
	iter, salt, ok1 := strings.Cut(params, ":")
	stored, server, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return scramKeys{}, errBadSCRAM
	}
	var k scramKeys
	var err error
	if k.iterations, err = strconv.Atoi(iter); err != nil || k.iterations < 1 || k.iterations > scramMaxIterations {
		return scramKeys{}, errBadSCRAM
	}
	d := base64.StdEncoding.DecodeString
	var e1, e2, e3 error
	k.salt, e1 = d(salt)
	k.storedKey, e2 = d(stored)
	k.serverKey, e3 = d(server)
	if e1 != nil || e2 != nil || e3 != nil || len(k.salt) == 0 ||
		len(k.storedKey) != sha256.Size || len(k.serverKey) != sha256.Size {
		return scramKeys{}, errBadSCRAM
	}
	return k, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
