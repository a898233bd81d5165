package msgauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/resolver"
)

// maxDKIMSignatures bounds the verification work one message can cause.
const maxDKIMSignatures = 5

// Checker authenticates incoming mail on the MX listener.
type Checker struct {
	Resolver resolver.Resolver
	// AuthServID names this server in Authentication-Results (RFC 8601
	// 2.5): the host name.
	AuthServID string
}

// Input is what the SMTP session knows about the message's origin.
type Input struct {
	RemoteIP netip.Addr
	Helo     string
	MailFrom string // reverse-path; "" for the null sender
}

// Verdict is the outcome of all checks.
type Verdict struct {
	SPF   SPFResult
	DKIM  []DKIMResult
	DMARC DMARC
	// Header is the Authentication-Results field, CRLF-terminated.
	Header string
}

// DKIMResult is one signature's verification.
type DKIMResult struct {
	Result string // pass, fail, neutral, temperror, permerror
	Domain string // d=
	Reason string
}

// Check runs SPF, DKIM and DMARC for a message (msg is read from the
// start, twice).
func (c *Checker) Check(ctx context.Context, in Input, msg io.ReadSeeker) (Verdict, error) {
	var v Verdict
	spfDomain, sender := domainOfAddr(in.MailFrom), in.MailFrom
	if in.MailFrom == "" {
		// RFC 7208 2.4: the null sender is checked as postmaster@HELO.
		spfDomain, sender = in.Helo, "postmaster@"+in.Helo
	}
	var spfReason string
	v.SPF, spfReason = CheckSPF(ctx, c.Resolver, in.RemoteIP, spfDomain, sender, in.Helo)

	br := message.BorrowReader(msg)
	defer message.ReturnReader(br)
	header, err := message.ReadHeader(br, maxHeader)
	if err != nil {
		return v, err
	}
	from, fromErr := fromDomain(header)
	if _, err := msg.Seek(0, io.SeekStart); err != nil {
		return v, err
	}
	br.Reset(msg)
	// go-msgauth's bufio.NewReader(br) returns br itself.
	verifs, err := dkim.VerifyWithOptions(br, &dkim.VerifyOptions{
		LookupTXT:        func(name string) ([]string, error) { return c.Resolver.LookupTXT(ctx, name) },
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return v, fmt.Errorf("msgauth: reading message: %w", err)
	}
	var passed []string
	for _, vr := range verifs {
		r := DKIMResult{Result: "pass", Domain: vr.Domain}
		switch {
		case vr.Err == nil:
			passed = append(passed, vr.Domain)
		case dkim.IsTempFail(vr.Err):
			r.Result, r.Reason = "temperror", vr.Err.Error()
		case dkim.IsPermFail(vr.Err):
			r.Result, r.Reason = "permerror", vr.Err.Error()
		default:
			r.Result, r.Reason = "fail", vr.Err.Error()
		}
		v.DKIM = append(v.DKIM, r)
	}
	if fromErr != nil {
		// RFC 7489 6.6.1: no single From domain, nothing to align with.
		v.DMARC = DMARC{Result: "permerror"}
	} else {
		v.DMARC = evaluateDMARC(ctx, c.Resolver, from, v.SPF, spfDomain, passed)
	}
	v.Header = c.header(v, in, spfReason)
	return v, nil
}

// header formats the Authentication-Results field (RFC 8601 2.2), one
// method per folded line: "spf=pass smtp.mailfrom=a@b", "dkim=fail
// reason=\"...\" header.d=b", "dmarc=pass header.from=b".
func (c *Checker) header(v Verdict, in Input, spfReason string) string {
	var b strings.Builder
	b.WriteString("Authentication-Results: " + c.AuthServID)
	method := func(name, result, reason string, props ...string) {
		b.WriteString(";\r\n\t" + name + "=" + result)
		if reason != "" {
			b.WriteString(" reason=" + quote(reason))
		}
		for i := 0; i+1 < len(props); i += 2 {
			if props[i+1] != "" {
				b.WriteString(" " + props[i] + "=" + value(props[i+1]))
			}
		}
	}
	if in.MailFrom != "" {
		method("spf", string(v.SPF), spfReason, "smtp.mailfrom", in.MailFrom)
	} else {
		method("spf", string(v.SPF), spfReason, "smtp.helo", in.Helo)
	}
	if len(v.DKIM) == 0 {
		method("dkim", "none", "")
	}
	for _, d := range v.DKIM {
		method("dkim", d.Result, d.Reason, "header.d", d.Domain)
	}
	method("dmarc", v.DMARC.Result, "", "header.from", v.DMARC.Domain)
	b.WriteString("\r\n")
	return b.String()
}

// value writes a property value as a token when it is one (RFC 2045),
// else quoted.
func value(s string) string {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>,;:\"/[]?=`, r) {
			return quote(s)
		}
	}
	return s
}

// quote writes a quoted-string, control characters blanked.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteRune('\\')
			b.WriteRune(r)
		case r < ' ' || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func domainOfAddr(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}
