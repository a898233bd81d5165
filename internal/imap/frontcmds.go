package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// intercept answers the commands the front implements. It reports false
// for every other line, which then goes to the library.
func (f *front) intercept(line []byte) bool {
	tag, name := commandName(line)
	if tag == "" {
		return false
	}
	args := strings.TrimRight(string(line[len(tag)+1+len(name):]), "\r\n")
	args = strings.TrimPrefix(args, " ")
	var reply string
	switch name {
	case "STARTTLS":
		f.startTLS(tag, args)
		return true
	case "ID":
		reply = f.cmdID(tag, args)
	case "GETQUOTAROOT", "GETQUOTA", "SETQUOTA":
		reply = f.cmdQuota(tag, name, args)
	default:
		return false
	}
	if err := f.writeRaw([]byte(reply)); err != nil {
		f.logger().Debug("imap: writing reply", "err", err)
	}
	return true
}

// cmdID answers ID (RFC 2971) in any state.
func (f *front) cmdID(tag, args string) string {
	if args != "NIL" && !(strings.HasPrefix(args, "(") && strings.HasSuffix(args, ")")) {
		return tag + " BAD ID takes NIL or a parenthesized list\r\n"
	}
	f.logger().Debug("imap: client ID", "id", args)
	version := f.srv.Version
	if version == "" {
		version = "dev"
	}
	return fmt.Sprintf("* ID (\"name\" \"Pochta\" \"version\" %s)\r\n%s OK ID completed\r\n",
		strconv.Quote(version), tag)
}

// cmdQuota answers the RFC 9208 commands. Every mailbox of an account
// shares one quota root, "" (the account); SETQUOTA is for the admin CLI.
func (f *front) cmdQuota(tag, name, args string) string {
	sess := f.sess.Load()
	if sess == nil || !sess.authenticated() {
		return tag + " BAD Not authenticated\r\n"
	}
	if name == "SETQUOTA" {
		return tag + " NO [NOPERM] Quotas are set by the administrator\r\n"
	}
	arg, ok := parseAString(args)
	if !ok {
		return tag + " BAD Expected one argument\r\n"
	}
	ctx, cancel := context.WithTimeout(sess.ctx, 30*time.Second)
	defer cancel()
	var b strings.Builder
	if name == "GETQUOTAROOT" {
		mb, err := f.srv.Store.GetMailbox(ctx, sess.account.ID, arg)
		if errors.Is(err, store.ErrNotFound) {
			return tag + " NO [NONEXISTENT] No such mailbox\r\n"
		} else if err != nil {
			return tag + " NO [UNAVAILABLE] " + textTemp + "\r\n"
		}
		fmt.Fprintf(&b, "* QUOTAROOT %s \"\"\r\n", quoteString(mb.Name))
	} else if arg != "" {
		return tag + " NO [NONEXISTENT] No such quota root\r\n"
	}
	q, err := f.srv.Store.Quota(ctx, sess.account.ID)
	if err != nil {
		return tag + " NO [UNAVAILABLE] " + textTemp + "\r\n"
	}
	// STORAGE is in units of 1024 octets (RFC 9208 section 5.1); no limit
	// is an empty resource list.
	if q.Limit > 0 {
		fmt.Fprintf(&b, "* QUOTA \"\" (STORAGE %d %d)\r\n", (q.Used+1023)/1024, q.Limit/1024)
	} else {
		b.WriteString("* QUOTA \"\" ()\r\n")
	}
	b.WriteString(tag + " OK " + name + " completed\r\n")
	return b.String()
}

// parseAString reads a single atom or quoted string.
func parseAString(s string) (string, bool) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			switch c := s[i]; c {
			case '\\':
				if i+1 >= len(s) {
					return "", false
				}
				i++
				b.WriteByte(s[i])
			case '"':
				return b.String(), i == len(s)-1
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	if s == "" || strings.ContainsAny(s, " (){\"") {
		return "", false
	}
	return s, true
}

// quoteString writes s as an IMAP quoted string.
func quoteString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// startTLS runs STARTTLS (RFC 9051 section 6.2.1): OK, then the handshake
// on the raw socket. Input the client sent after the command, before the
// handshake, is discarded: it could only be an injection attempt.
func (f *front) startTLS(tag, args string) {
	var refusal string
	switch {
	case args != "":
		refusal = " BAD STARTTLS takes no arguments"
	case f.srv.TLSConfig == nil || f.isTLS.Load():
		refusal = " BAD STARTTLS not available"
	case f.authenticated():
		refusal = " BAD STARTTLS is only valid before authentication"
	}
	if refusal != "" {
		_ = f.writeRaw([]byte(tag + refusal + "\r\n"))
		return
	}
	if err := f.writeRaw([]byte(tag + " OK Begin TLS negotiation now\r\n")); err != nil {
		return
	}
	tc := tls.Server(f.raw, f.srv.TLSConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		f.logger().Info("imap: STARTTLS handshake failed", "err", err)
		f.stopping.Store(true) // the next Read ends the session
		return
	}
	f.wmu.Lock()
	f.conn = tc
	f.wmu.Unlock()
	f.r = bufio.NewReaderSize(tc, inputBuffer)
	f.isTLS.Store(true)
}

// textTemp is the reply text for backend trouble.
const textTemp = "Temporary server failure, try again later"
