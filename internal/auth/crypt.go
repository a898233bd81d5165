package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// crypt(3) as glibc and Dovecot write it, for verifying imported hashes:
// MD5-crypt ($1$, Poul-Henning Kamp's) and SHA-crypt ($5$ SHA-256, $6$
// SHA-512, Ulrich Drepper's specification). bcrypt ($2a$, $2b$, $2y$) is
// golang.org/x/crypto/bcrypt's. New hashes are never made this way.

// maxCryptRounds bounds SHA-crypt rounds read from a stored hash, so one
// hostile or corrupt line cannot make a login spin for minutes.
const maxCryptRounds = 5_000_000

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// cryptString computes the crypt(3) string of password with the method
// and salt of setting (a whole stored hash will do). With an empty
// password it only checks that setting is well formed.
func cryptString(setting, password string) (string, error) {
	switch {
	case strings.HasPrefix(setting, "$2"):
		if _, err := bcrypt.Cost([]byte(setting)); err != nil {
			return "", err
		}
		return "", nil
	case strings.HasPrefix(setting, "$1$"):
		salt := cryptSalt(setting[3:], 8)
		if password == "" {
			return "", nil
		}
		return md5Crypt([]byte(password), []byte(salt)), nil
	case strings.HasPrefix(setting, "$5$"), strings.HasPrefix(setting, "$6$"):
		rounds, rest, explicit, err := parseRounds(setting[3:])
		if err != nil {
			return "", err
		}
		if rounds > maxCryptRounds {
			return "", errors.New("too many rounds")
		}
		salt := cryptSalt(rest, 16)
		if password == "" {
			return "", nil
		}
		if setting[1] == '5' {
			return shaCrypt(sha256.New, "$5$", sha256Order, []byte(password), salt, rounds, explicit), nil
		}
		return shaCrypt(sha512.New, "$6$", sha512Order, []byte(password), salt, rounds, explicit), nil
	}
	return "", errors.New("unknown crypt method")
}

// cryptSalt is the salt of a setting: up to the next "$", at most max
// characters.
func cryptSalt(s string, max int) string {
	if i := strings.IndexByte(s, '$'); i >= 0 {
		s = s[:i]
	}
	if len(s) > max {
		s = s[:max]
	}
	return s
}

// b64From24 appends the n low 6-bit groups of (b2<<16 | b1<<8 | b0),
// least significant first.
func b64From24(out []byte, b2, b1, b0 byte, n int) []byte {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for range n {
		out = append(out, cryptAlphabet[w&0x3f])
		w >>= 6
	}
	return out
}

// The byte order in which SHA-crypt encodes the final digest.
var (
	sha256Order = [][3]int{{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29}}
	sha512Order = [][3]int{{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4},
		{47, 5, 26}, {6, 27, 48}, {28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10},
		{53, 11, 32}, {12, 33, 54}, {34, 55, 13}, {56, 14, 35}, {15, 36, 57}, {37, 58, 16},
		{59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41}}
)

// repeatTo returns b repeated to n bytes.
func repeatTo(b []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, b[:min(len(b), n-len(out))]...)
	}
	return out
}

func shaCrypt(newHash func() hash.Hash, magic string, order [][3]int, pw []byte, salt string, rounds int, explicit bool) string {
	s := []byte(salt)
	h := newHash()
	h.Write(pw)
	h.Write(s)
	h.Write(pw)
	b := h.Sum(nil)

	h = newHash()
	h.Write(pw)
	h.Write(s)
	h.Write(repeatTo(b, len(pw)))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	h = newHash()
	for range pw {
		h.Write(pw)
	}
	p := repeatTo(h.Sum(nil), len(pw))

	h = newHash()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	sp := repeatTo(h.Sum(nil), len(s))

	c := cryptRounds(newHash, rounds, a, p, sp)

	out := []byte(magic)
	if explicit {
		out = append(out, "rounds="+strconv.Itoa(rounds)+"$"...)
	}
	out = append(out, salt...)
	out = append(out, '$')
	for _, t := range order {
		out = b64From24(out, c[t[0]], c[t[1]], c[t[2]], 4)
	}
	if len(c) == 32 {
		out = b64From24(out, 0, c[31], c[30], 3)
	} else {
		out = b64From24(out, 0, 0, c[63], 2)
	}
	return string(out)
}

// cryptRounds is the stretching loop MD5-crypt and SHA-crypt share: each
// round hashes the previous digest c with the password p and the salt s
// in an order set by the round number.
func cryptRounds(newHash func() hash.Hash, rounds int, c, p, s []byte) []byte {
	for i := range rounds {
		h := newHash()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(nil)
	}
	return c
}

func md5Crypt(pw, salt []byte) string {
	const magic = "$1$"
	alt := md5.New()
	alt.Write(pw)
	alt.Write(salt)
	alt.Write(pw)
	altSum := alt.Sum(nil)

	h := md5.New()
	h.Write(pw)
	h.Write([]byte(magic))
	h.Write(salt)
	h.Write(repeatTo(altSum, len(pw)))
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write([]byte{0})
		} else {
			h.Write(pw[:1])
		}
	}
	final := h.Sum(nil)
	final = cryptRounds(md5.New, 1000, final, pw, salt)
	out := append([]byte(magic), salt...)
	out = append(out, '$')
	for _, t := range [][3]int{{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}} {
		out = b64From24(out, final[t[0]], final[t[1]], final[t[2]], 4)
	}
	return string(b64From24(out, 0, 0, final[11], 2))
}
