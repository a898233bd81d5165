package msgauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"

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

	header, err := readHeader(bufio.NewReader(msg))
	if err != nil {
		return v, err
	}
	from, fromErr := fromDomain(header)
	if _, err := msg.Seek(0, io.SeekStart); err != nil {
		return v, err
	}
	verifs, err := dkim.VerifyWithOptions(msg, &dkim.VerifyOptions{
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
	v.Header = c.header(v, in, spfDomain, spfReason)
	return v, nil
}

// header formats the Authentication-Results field (RFC 8601), folded
// before each method so long results stay within line limits.
func (c *Checker) header(v Verdict, in Input, spfDomain, spfReason string) string {
	results := []authres.Result{&authres.SPFResult{Value: authres.ResultValue(v.SPF), Reason: spfReason,
		From: mailFromParam(in.MailFrom), Helo: heloParam(in)}}
	if len(v.DKIM) == 0 {
		results = append(results, &authres.DKIMResult{Value: authres.ResultNone})
	}
	for _, d := range v.DKIM {
		results = append(results, &authres.DKIMResult{Value: authres.ResultValue(d.Result), Domain: d.Domain, Reason: d.Reason})
	}
	results = append(results, &authres.DMARCResult{Value: authres.ResultValue(v.DMARC.Result), From: v.DMARC.Domain})
	text := authres.Format(c.AuthServID, results)
	return "Authentication-Results: " + strings.ReplaceAll(text, "; ", ";\r\n\t") + "\r\n"
}

func mailFromParam(from string) string {
	if from == "" {
		return ""
	}
	return from
}

func heloParam(in Input) string {
	if in.MailFrom == "" {
		return in.Helo
	}
	return ""
}

func domainOfAddr(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(addr[at+1:])
}
