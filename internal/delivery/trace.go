package delivery

import (
	"crypto/tls"
	"net/netip"
	"strings"
	"time"
)

// Trace is what a Received header field records about one SMTP
// transaction (RFC 5321 section 4.4).
type Trace struct {
	Helo     string     // the client's HELO/EHLO argument
	RemoteIP netip.Addr // the client's address
	ESMTP    bool       // EHLO (not HELO) was used
	// TLS is the connection's TLS state, nil without TLS.
	TLS *tls.ConnectionState
	// AuthUser is the authenticated account, "" without AUTH.
	AuthUser string
	SMTPUTF8 bool
	ID       string // transaction id, also logged
	// With, when not "", is the protocol the message came by, in place
	// of the SMTP keyword Protocol derives (the fetcher's "POP3S").
	With string
	// For is the recipient, when there is exactly one; "" otherwise, so
	// a message to several people does not list them all to each.
	For  string
	Time time.Time
}

// Protocol is the "with" keyword of RFC 3848 and RFC 6531: SMTP, ESMTP,
// plus S for TLS and A for authentication (ESMTPSA), or UTF8SMTP...
func (t *Trace) Protocol() string {
	if t.With != "" {
		return t.With
	}
	if !t.ESMTP {
		return "SMTP"
	}
	p := "ESMTP"
	if t.SMTPUTF8 {
		p = "UTF8SMTP"
	}
	if t.TLS != nil {
		p += "S"
	}
	if t.AuthUser != "" {
		p += "A"
	}
	return p
}

// Header returns the Received header field, folded, ending in CRLF.
func (t *Trace) Header(hostname string) string {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(headerToken(t.Helo))
	b.WriteString(" ([")
	ip := "unknown"
	if t.RemoteIP.IsValid() {
		ip = t.RemoteIP.String()
		if t.RemoteIP.Is6() {
			ip = "IPv6:" + ip // RFC 5321 IPv6-address-literal
		}
	}
	b.WriteString(ip)
	b.WriteString("])")
	if t.TLS != nil {
		b.WriteString("\r\n\t(using ")
		// "TLSv1.3", as Postfix writes it (tls.VersionName says "TLS 1.3").
		b.WriteString(strings.Replace(tls.VersionName(t.TLS.Version), "TLS ", "TLSv", 1))
		b.WriteString(" with cipher ")
		b.WriteString(tls.CipherSuiteName(t.TLS.CipherSuite))
		b.WriteString(")")
	}
	if t.AuthUser != "" {
		b.WriteString("\r\n\t(Authenticated sender: ")
		b.WriteString(headerComment(t.AuthUser))
		b.WriteString(")")
	}
	b.WriteString("\r\n\tby ")
	b.WriteString(headerToken(hostname))
	b.WriteString(" (Pochta) with ")
	b.WriteString(t.Protocol())
	if t.ID != "" {
		b.WriteString(" id ")
		b.WriteString(headerToken(t.ID))
	}
	if t.For != "" {
		b.WriteString("\r\n\tfor <")
		b.WriteString(headerAddr(t.For))
		b.WriteString(">")
	}
	date := t.Time
	if date.IsZero() {
		date = time.Now()
	}
	b.WriteString(";\r\n\t")
	b.WriteString(date.Format(time.RFC1123Z))
	b.WriteString("\r\n")
	return b.String()
}

// maxFieldPart bounds any client-supplied string put in a header field,
// keeping every line far below RFC 5322's 998-octet limit.
const maxFieldPart = 255

// headerSafe keeps a client-supplied string on one header line: control
// characters (CR and LF above all: header injection) become "?", and the
// length is bounded. Non-ASCII UTF-8 is kept (SMTPUTF8 addresses).
func headerSafe(s string) string {
	if len(s) > maxFieldPart {
		s = s[:maxFieldPart]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// headerToken is headerSafe for a word that must not contain spaces or
// the delimiters of comments and literals.
func headerToken(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || strings.ContainsRune("()<>[]\\;\"", r) {
			return '?'
		}
		return r
	}, headerSafe(s))
}

// headerAddr is headerSafe for an address inside angle brackets: nothing
// that could end the brackets or open a comment.
func headerAddr(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || strings.ContainsRune("()<>\\\",;", r) {
			return '?'
		}
		return r
	}, headerSafe(s))
}

// headerComment is headerSafe for text inside a comment: no parentheses
// or backslashes, so the comment cannot end early or nest.
func headerComment(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("()\\", r) {
			return '?'
		}
		return r
	}, headerSafe(s))
}
