package auth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Foreign password hashes are what other servers stored: Dovecot's
// "{SCHEME}data" strings (as in a passwd-file or `doveadm pw`) and bare
// crypt(3) strings ("$6$salt$hash"). Accounts imported with one log in
// with it; the first successful login replaces it with our argon2id hash
// and SCRAM keys (see CheckPassword).

// errUnknownScheme marks a scheme we cannot verify.
var errUnknownScheme = errors.New("auth: unsupported password scheme")

// IsNativeHash reports whether h is a hash NewCredentials makes (argon2id
// in PHC form) rather than a foreign one.
func IsNativeHash(h string) bool { return strings.HasPrefix(h, "$argon2id$") }

// CheckForeignHash checks that h is a foreign hash this package can verify
// (a known scheme, well formed), without a password: the fast check
// `pochta user import` runs on every line. It returns the scheme name.
func CheckForeignHash(h string) (string, error) {
	scheme, data, enc := splitScheme(h)
	v, ok := foreignSchemes[scheme]
	if !ok {
		return scheme, fmt.Errorf("%w %q", errUnknownScheme, scheme)
	}
	if err := v.check(data, enc); err != nil {
		return scheme, fmt.Errorf("malformed %s hash: %w", scheme, err)
	}
	return scheme, nil
}

// verifyForeign checks password against a foreign hash.
func verifyForeign(h, password string) (bool, error) {
	scheme, data, enc := splitScheme(h)
	v, ok := foreignSchemes[scheme]
	if !ok {
		return false, errBadHash
	}
	match, err := v.verify(data, enc, password)
	if err != nil {
		return false, errBadHash
	}
	return match, nil
}

// splitScheme splits "{SCHEME.ENC}data" into the scheme, the data and the
// encoding suffix (".HEX", ".B64"); a bare string is CRYPT.
func splitScheme(h string) (scheme, data, enc string) {
	if strings.HasPrefix(h, "{") {
		if end := strings.IndexByte(h, '}'); end > 0 {
			scheme, data = strings.ToUpper(h[1:end]), h[end+1:]
			if base, suffix, ok := strings.Cut(scheme, "."); ok {
				scheme, enc = base, suffix
			}
			return scheme, data, enc
		}
	}
	return "CRYPT", h, ""
}

type foreignScheme struct {
	check  func(data, enc string) error
	verify func(data, enc, password string) (bool, error)
}

// digestScheme is a scheme that stores hash(password [+ salt]) [+ salt],
// base64 or hex encoded.
func digestScheme(newHash func() hash.Hash, salted, hexDefault bool) foreignScheme {
	size := newHash().Size()
	decode := func(data, enc string) ([]byte, error) {
		var raw []byte
		var err error
		switch {
		case enc == "HEX" || (enc == "" && hexDefault && len(data) == 2*size):
			raw, err = hex.DecodeString(data)
		case enc == "" || enc == "B64" || enc == "BASE64":
			raw, err = base64.StdEncoding.DecodeString(data)
		default:
			return nil, fmt.Errorf("unknown encoding %q", enc)
		}
		if err != nil {
			return nil, err
		}
		if len(raw) < size || (!salted && len(raw) != size) {
			return nil, errors.New("wrong length")
		}
		return raw, nil
	}
	return foreignScheme{
		check: func(data, enc string) error { _, err := decode(data, enc); return err },
		verify: func(data, enc, password string) (bool, error) {
			raw, err := decode(data, enc)
			if err != nil {
				return false, err
			}
			h := newHash()
			h.Write([]byte(password))
			h.Write(raw[size:]) // the salt
			return subtle.ConstantTimeCompare(h.Sum(nil), raw[:size]) == 1, nil
		},
	}
}

// cryptScheme is a crypt(3) string verified by recomputing it.
func cryptScheme(prefixes ...string) foreignScheme {
	check := func(data, _ string) error {
		for _, p := range prefixes {
			if strings.HasPrefix(data, p) {
				_, err := cryptString(data, "")
				return err
			}
		}
		return fmt.Errorf("does not start with %s", strings.Join(prefixes, " or "))
	}
	return foreignScheme{
		check: check,
		verify: func(data, enc, password string) (bool, error) {
			if err := check(data, enc); err != nil {
				return false, err
			}
			if strings.HasPrefix(data, "$2") {
				err := bcrypt.CompareHashAndPassword([]byte(data), []byte(password))
				if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
					return false, nil
				}
				return err == nil, err
			}
			got, err := cryptString(data, password)
			if err != nil {
				return false, err
			}
			return subtle.ConstantTimeCompare([]byte(got), []byte(data)) == 1, nil
		},
	}
}

func plainScheme() foreignScheme {
	return foreignScheme{
		check: func(data, _ string) error {
			if data == "" {
				return errors.New("empty password")
			}
			return nil
		},
		verify: func(data, _, password string) (bool, error) {
			return subtle.ConstantTimeCompare([]byte(data), []byte(password)) == 1, nil
		},
	}
}

func argonScheme(variant string) foreignScheme {
	return foreignScheme{
		check: func(data, _ string) error { _, _, _, err := parseArgon(data, variant); return err },
		verify: func(data, _, password string) (bool, error) {
			p, salt, want, err := parseArgon(data, variant)
			if err != nil {
				return false, err
			}
			var got []byte
			if variant == "argon2id" {
				got = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
			} else {
				got = argon2.Key([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(want)))
			}
			return subtle.ConstantTimeCompare(got, want) == 1, nil
		},
	}
}

// parseArgon parses a PHC argon2 string of the given variant, with the
// same bounds as our own hashes.
func parseArgon(data, variant string) (argonParams, []byte, []byte, error) {
	if variant == "argon2id" {
		return parsePHC(data)
	}
	rest, ok := strings.CutPrefix(data, "$"+variant+"$")
	if !ok {
		return argonParams{}, nil, nil, errBadHash
	}
	return parsePHC("$argon2id$" + rest)
}

var foreignSchemes = map[string]foreignScheme{
	"ARGON2ID":     argonScheme("argon2id"),
	"ARGON2I":      argonScheme("argon2i"),
	"BLF-CRYPT":    cryptScheme("$2"),
	"SHA512-CRYPT": cryptScheme("$6$"),
	"SHA256-CRYPT": cryptScheme("$5$"),
	"MD5-CRYPT":    cryptScheme("$1$"),
	"MD5":          cryptScheme("$1$"), // Dovecot's {MD5} is MD5-CRYPT
	"CRYPT":        cryptScheme("$1$", "$2", "$5$", "$6$"),
	"SSHA512":      digestScheme(sha512.New, true, false),
	"SSHA256":      digestScheme(sha256.New, true, false),
	"SSHA":         digestScheme(sha1.New, true, false),
	"SMD5":         digestScheme(md5.New, true, false),
	"SHA512":       digestScheme(sha512.New, false, false),
	"SHA256":       digestScheme(sha256.New, false, false),
	"SHA":          digestScheme(sha1.New, false, false),
	"SHA1":         digestScheme(sha1.New, false, false),
	"PLAIN-MD5":    digestScheme(md5.New, false, true),
	"LDAP-MD5":     digestScheme(md5.New, false, false),
	"PLAIN":        plainScheme(),
	"CLEAR":        plainScheme(),
	"CLEARTEXT":    plainScheme(),
	"SCRAM-SHA-256": {
		check: func(data, _ string) error { _, err := dovecotSCRAM(data); return err },
		verify: func(data, _, password string) (bool, error) {
			k, err := dovecotSCRAM(data)
			if err != nil {
				return false, err
			}
			got, err := deriveSCRAM(password, k.salt, k.iterations)
			if err != nil {
				return false, err
			}
			return subtle.ConstantTimeCompare(got.storedKey, k.storedKey) == 1, nil
		},
	},
}

// dovecotSCRAM reads Dovecot's {SCRAM-SHA-256} data, "iterations,salt,
// StoredKey,ServerKey" (base64): the RFC 5802 keys themselves, the one
// foreign scheme SCRAM logins can use as they are.
func dovecotSCRAM(data string) (scramKeys, error) {
	f := strings.Split(data, ",")
	if len(f) != 4 {
		return scramKeys{}, errBadSCRAM
	}
	return parseSCRAM(scramPrefix + f[0] + ":" + f[1] + "$" + f[2] + ":" + f[3])
}

// ImportedSCRAM returns the SCRAM-SHA-256 keys (in Credentials.SCRAMSHA256
// form) that a foreign hash carries, or "" when it carries none. Only
// Dovecot's {SCRAM-SHA-256} does: SCRAM needs PBKDF2-SHA-256 of the
// password itself, which no other hash can be turned into, so those
// accounts get SCRAM keys at their first password login (rehash).
func ImportedSCRAM(h string) string {
	scheme, data, _ := splitScheme(h)
	if scheme != "SCRAM-SHA-256" {
		return ""
	}
	k, err := dovecotSCRAM(data)
	if err != nil {
		return ""
	}
	return k.String()
}

func init() {
	// "ARGON2ID" and friends also arrive bare ("$argon2i$..."): CRYPT
	// takes those too.
	crypt := foreignSchemes["CRYPT"]
	foreignSchemes["CRYPT"] = foreignScheme{
		check: func(data, enc string) error {
			for _, v := range []string{"argon2id", "argon2i"} {
				if strings.HasPrefix(data, "$"+v+"$") {
					return foreignSchemes[strings.ToUpper(v)].check(data, enc)
				}
			}
			return crypt.check(data, enc)
		},
		verify: func(data, enc, password string) (bool, error) {
			for _, v := range []string{"argon2id", "argon2i"} {
				if strings.HasPrefix(data, "$"+v+"$") {
					return foreignSchemes[strings.ToUpper(v)].verify(data, enc, password)
				}
			}
			return crypt.verify(data, enc, password)
		},
	}
}

// ForeignSchemes lists the schemes CheckForeignHash accepts.
func ForeignSchemes() []string {
	out := make([]string, 0, len(foreignSchemes))
	for s := range foreignSchemes {
		out = append(out, s)
	}
	return out
}

// parseRounds reads an optional "rounds=N$" of SHA-crypt.
func parseRounds(s string) (rounds int, rest string, explicit bool, err error) {
	v, rest, ok := strings.Cut(s, "$")
	if !ok || !strings.HasPrefix(v, "rounds=") {
		return 5000, s, false, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(v, "rounds="))
	if err != nil {
		return 0, "", false, errors.New("bad rounds")
	}
	return min(max(n, 1000), 999999999), rest, true, nil
}
