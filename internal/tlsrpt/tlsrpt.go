// Package tlsrpt implements SMTP TLS Reporting (RFC 8460) for the sending
// side: the outbound queue records, per policy domain, how its TLS
// sessions went (Recorder), and once a day an aggregate report for each
// domain that asks for one (a "_smtp._tls" TXT record with a mailto: rua)
// is built as JSON, gzipped, wrapped in a multipart/report message and
// handed to the outbound queue like any other mail (Reporter).
//
// Counts live in memory and are saved to a file in the data directory
// (Reporter.Path): every minute, after each day's reports are sent, and at
// shutdown, so a restart keeps the day's figures (a crash loses at most
// the last minute's).
package tlsrpt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/mtasts"
)

// Result types (RFC 8460 section 4.3).
const (
	// Negotiation failures (4.3.1).
	ResultSTARTTLSNotSupported = "starttls-not-supported"
	ResultCertHostMismatch     = "certificate-host-mismatch"
	ResultCertExpired          = "certificate-expired"
	ResultCertNotTrusted       = "certificate-not-trusted"
	ResultValidationFailure    = "validation-failure"
	// Policy failures (4.3.2.1).
	ResultSTSPolicyFetchError = "sts-policy-fetch-error"
	ResultSTSPolicyInvalid    = "sts-policy-invalid"
	ResultSTSWebPKIInvalid    = "sts-webpki-invalid"
)

// Policy is the policy a domain's sessions were held to (section 4.4's
// "policy" object). Type is "sts" (MTA-STS) or "no-policy-found".
type Policy struct {
	Type    string
	Domain  string   // the policy domain: the recipients' domain
	Strings []string // the policy text, one line each (sts only)
	MXHosts []string // the policy's mx patterns (sts only)
}

// Failure is one failed session's details (section 4.4's
// "failure-details" entry, without the count).
type Failure struct {
	ResultType  string
	SendingIP   string // our address on the connection, when known
	ReceivingMX string // the MX host name
	ReceivingIP string
	// ReasonCode is free text, for what the result type does not say.
	ReasonCode string
}

// Limits of what a Recorder keeps for one day; past them sessions are
// still counted in the summary but no new domain or detail row is added.
const (
	MaxDomains          = 10000
	MaxFailureDetails   = 100
	maxDaysKept         = 3
	maxReasonCodeLength = 200
)

// Recorder counts TLS sessions per UTC day and policy domain. The zero
// value is ready; it is safe for concurrent use.
type Recorder struct {
	mu   sync.Mutex
	days map[time.Time]map[string]*Stats
	// changes counts changes to days; saved is its value at the last
	// Save or Load, so an unchanged Recorder is not written again.
	changes, saved uint64
}

// Stats are one policy domain's figures for one day.
type Stats struct {
	Policy   Policy
	Success  int64
	Failures map[Failure]int64
}

// FailureCount is the total of failed sessions.
func (s *Stats) FailureCount() int64 {
	var n int64
	for _, c := range s.Failures {
		n += c
	}
	return n
}

// day is the start of t's UTC day.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// stats returns the entry of (now's day, policy domain), creating it
// within the limits; nil when over them. Called with mu held.
func (r *Recorder) stats(now time.Time, p Policy) *Stats {
	d := day(now)
	if r.days == nil {
		r.days = map[time.Time]map[string]*Stats{}
	}
	m := r.days[d]
	if m == nil {
		m = map[string]*Stats{}
		r.days[d] = m
		r.dropOld(d)
	}
	domain := strings.ToLower(p.Domain)
	s := m[domain]
	if s == nil {
		if len(m) >= MaxDomains {
			return nil
		}
		s = &Stats{Policy: p, Failures: map[Failure]int64{}}
		m[domain] = s
	}
	// The latest policy seen that day is the one reported.
	s.Policy = p
	r.changes++
	return s
}

// dropOld forgets days that were never taken (no reporter running).
func (r *Recorder) dropOld(today time.Time) {
	for d := range r.days {
		if today.Sub(d) >= maxDaysKept*24*time.Hour {
			delete(r.days, d)
		}
	}
}

// Success counts a session that met the policy.
func (r *Recorder) Success(now time.Time, p Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.stats(now, p); s != nil {
		s.Success++
	}
}

// Fail counts a session that did not.
func (r *Recorder) Fail(now time.Time, p Policy, f Failure) {
	if len(f.ReasonCode) > maxReasonCodeLength {
		f.ReasonCode = f.ReasonCode[:maxReasonCodeLength]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats(now, p)
	if s == nil {
		return
	}
	if _, ok := s.Failures[f]; !ok && len(s.Failures) >= MaxFailureDetails {
		// Keep the count in the summary without a new detail row.
		f = Failure{ResultType: f.ResultType, ReasonCode: "more failures not detailed"}
	}
	s.Failures[f]++
}

// Day is one day's figures, by policy domain.
type Day struct {
	Start   time.Time // 00:00 UTC
	Domains map[string]*Stats
}

// Take removes and returns every day that ended before now, oldest
// first.
func (r *Recorder) Take(now time.Time) []Day {
	r.mu.Lock()
	defer r.mu.Unlock()
	today := day(now)
	var out []Day
	for d, m := range r.days {
		if d.Before(today) {
			out = append(out, Day{Start: d, Domains: m})
			delete(r.days, d)
			r.changes++
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// STSPolicy is the "policy" object of an MTA-STS domain's report; p nil
// (a policy announced but never fetched) gives the domain alone.
func STSPolicy(domain string, p *mtasts.Policy) Policy {
	if p == nil {
		return Policy{Type: "sts", Domain: domain}
	}
	return Policy{Type: "sts", Domain: domain,
		Strings: strings.Split(strings.TrimRight(p.Text(), "\r\n"), "\r\n"), MXHosts: p.MX}
}

// FetchResult is the result type of a failed MTA-STS policy fetch
// (section 4.3.2.1): the policy host's certificate did not verify
// (sts-webpki-invalid), the file is not a policy (sts-policy-invalid), or
// anything else (sts-policy-fetch-error).
func FetchResult(err error) string {
	var (
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
		verify  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &unknown), errors.As(err, &verify):
		return ResultSTSWebPKIInvalid
	case errors.Is(err, mtasts.ErrInvalidPolicy):
		return ResultSTSPolicyInvalid
	}
	return ResultSTSPolicyFetchError
}

// FetchFailed counts a failed MTA-STS policy fetch; it is an
// mtasts.Fetcher's FetchFailed hook.
func (r *Recorder) FetchFailed(domain string, cached *mtasts.Policy, err error) {
	r.Fail(time.Now(), STSPolicy(domain, cached), Failure{ResultType: FetchResult(err), ReasonCode: err.Error()})
}
