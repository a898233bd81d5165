package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
)

// The report's JSON (RFC 8460 section 4.4).
type report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        dateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"`
	ReportID         string         `json:"report-id"`
	Policies         []policyReport `json:"policies"`
}

type dateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

type policyReport struct {
	Policy         policyJSON      `json:"policy"`
	Summary        summary         `json:"summary"`
	FailureDetails []failureDetail `json:"failure-details,omitempty"`
}

type policyJSON struct {
	Type    string   `json:"policy-type"`
	String  []string `json:"policy-string,omitempty"`
	Domain  string   `json:"policy-domain"`
	MXHosts []string `json:"mx-host,omitempty"`
}

type summary struct {
	Success int64 `json:"total-successful-session-count"`
	Failure int64 `json:"total-failure-session-count"`
}

type failureDetail struct {
	ResultType          string `json:"result-type"`
	SendingMTAIP        string `json:"sending-mta-ip,omitempty"`
	ReceivingMXHostname string `json:"receiving-mx-hostname,omitempty"`
	ReceivingIP         string `json:"receiving-ip,omitempty"`
	FailedSessionCount  int64  `json:"failed-session-count"`
	FailureReasonCode   string `json:"failure-reason-code,omitempty"`
}

// ReportJSON is the report of one policy domain for the day that starts
// at start.
func ReportJSON(start time.Time, s *Stats, organization, contact, reportID string) ([]byte, error) {
	p := policyReport{
		Policy:  policyJSON{Type: s.Policy.Type, String: s.Policy.Strings, Domain: s.Policy.Domain, MXHosts: s.Policy.MXHosts},
		Summary: summary{Success: s.Success, Failure: s.FailureCount()},
	}
	for f, n := range s.Failures {
		p.FailureDetails = append(p.FailureDetails, failureDetail{
			ResultType: f.ResultType, SendingMTAIP: f.SendingIP, ReceivingMXHostname: f.ReceivingMX,
			ReceivingIP: f.ReceivingIP, FailedSessionCount: n, FailureReasonCode: f.ReasonCode,
		})
	}
	sort.Slice(p.FailureDetails, func(i, j int) bool {
		a, b := p.FailureDetails[i], p.FailureDetails[j]
		if a.FailedSessionCount != b.FailedSessionCount {
			return a.FailedSessionCount > b.FailedSessionCount
		}
		return a.ResultType+a.ReceivingMXHostname+a.ReceivingIP < b.ResultType+b.ReceivingMXHostname+b.ReceivingIP
	})
	r := report{
		OrganizationName: organization,
		DateRange:        dateRange{Start: start.UTC(), End: start.UTC().Add(24*time.Hour - time.Second)},
		ContactInfo:      contact,
		ReportID:         reportID,
		Policies:         []policyReport{p},
	}
	return json.MarshalIndent(r, "", "  ")
}

// LookupRUA returns the mailto: addresses of a domain's TLS-RPT record
// ("_smtp._tls.DOMAIN" TXT, RFC 8460 section 3). No record, several
// records or no mailto: URI give none; https: URIs are not supported.
func LookupRUA(ctx context.Context, res resolver.Resolver, domain string) ([]string, error) {
	txts, err := res.LookupTXT(ctx, "_smtp._tls."+domain)
	if resolver.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var record string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1") {
			if record != "" {
				return nil, nil // section 3: more than one record, none applies
			}
			record = t
		}
	}
	var out []string
	for _, field := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || strings.TrimSpace(k) != "rua" {
			continue
		}
		for _, uri := range strings.Split(v, ",") {
			uri = strings.TrimSpace(uri)
			addr, ok := strings.CutPrefix(uri, "mailto:")
			if !ok {
				continue
			}
			addr, _, _ = strings.Cut(addr, "?")
			if a, err := url.PathUnescape(addr); err == nil && strings.Count(a, "@") == 1 && !strings.ContainsAny(a, " <>\r\n") {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// Message is the report mail (RFC 8460 section 5.3): a multipart/report
// of report-type "tlsrpt" with a short text part and the gzipped JSON as
// application/tlsrpt+gzip, named as section 5.1 says.
func Message(start time.Time, s *Stats, submitter, from, to, reportID string, json []byte, now time.Time) ([]byte, error) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(json); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	domain := s.Policy.Domain
	end := start.Add(24*time.Hour - time.Second)
	filename := fmt.Sprintf("%s!%s!%d!%d.json.gz", submitter, domain, start.Unix(), end.Unix())
	boundary := randomHex(12)
	var b bytes.Buffer
	h := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	h("From: %s", from)
	h("To: %s", to)
	h("Subject: Report Domain: %s Submitter: %s Report-ID: <%s>", domain, submitter, reportID)
	h("Date: %s", now.Format(time.RFC1123Z))
	h("Message-ID: <%s.%s@%s>", now.UTC().Format("20060102150405"), randomHex(8), submitter)
	h("TLS-Report-Domain: %s", domain)
	h("TLS-Report-Submitter: %s", submitter)
	h("MIME-Version: 1.0")
	h("Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"%s\"", boundary)
	h("")
	h("--%s", boundary)
	h("Content-Type: text/plain; charset=us-ascii")
	h("")
	h("This is an aggregate TLS report (RFC 8460) from %s for %s,", submitter, domain)
	h("covering %s to %s UTC: %d successful and %d failed sessions.",
		start.UTC().Format(time.DateTime), end.UTC().Format(time.DateTime), s.Success, s.FailureCount())
	h("")
	h("--%s", boundary)
	h("Content-Type: application/tlsrpt+gzip")
	h("Content-Transfer-Encoding: base64")
	h("Content-Disposition: attachment; %s", strings.TrimPrefix(mime.FormatMediaType("x", map[string]string{"filename": filename}), "x; "))
	h("")
	enc := base64.StdEncoding.EncodeToString(gz.Bytes())
	for len(enc) > 76 {
		h("%s", enc[:76])
		enc = enc[76:]
	}
	h("%s", enc)
	h("--%s--", boundary)
	return b.Bytes(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Queuer is what the Reporter needs of the store (store.Deliverer): one
// delivery onto the outbound queue per report.
type Queuer interface {
	Deliver(ctx context.Context, d store.Delivery) error
}

// Reporter sends the reports of the days a Recorder collected. Submitter
// (the organization and the host name in the report) and From are
// required.
type Reporter struct {
	Recorder  *Recorder
	Resolver  resolver.Resolver
	Store     Queuer // reports go onto the outbound queue through it
	Submitter string // our host name
	From      string // the From: address (and contact-info)
	Logger    *slog.Logger
	Now       func() time.Time
	// Path is the file the Recorder's counts are saved to (see Save);
	// "" keeps them in memory only.
	Path string
}

// saveInterval is how often Run saves the counts: what a crash may lose.
const saveInterval = time.Minute

// Save writes the Recorder's counts to Path (when set and changed). Run
// saves periodically; call it once more after the last session is counted
// (at shutdown, after the queue worker stopped).
func (rp *Reporter) Save() {
	if rp.Path == "" {
		return
	}
	if err := rp.Recorder.Save(rp.Path); err != nil {
		rp.log().Warn("tlsrpt: counts not saved", "err", err)
	}
}

func (rp *Reporter) now() time.Time {
	if rp.Now != nil {
		return rp.Now()
	}
	return time.Now()
}

func (rp *Reporter) log() *slog.Logger {
	if rp.Logger != nil {
		return rp.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// sendDelay is how long after midnight UTC the day's reports go: RFC
// 8460 section 4.1 asks senders not to all report at 00:00.
const sendDelay = 7 * time.Minute

// Run sends each day's reports shortly after the day ends, and saves the
// counts every saveInterval, until ctx ends. Days that ended before it
// started (counts loaded from Path) are reported at once.
func (rp *Reporter) Run(ctx context.Context) {
	rp.SendDue(ctx)
	save := time.NewTicker(saveInterval)
	defer save.Stop()
	for {
		now := rp.now()
		next := day(now).Add(24*time.Hour + sendDelay)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-save.C:
			t.Stop()
			rp.Save()
			continue
		case <-t.C:
		}
		rp.SendDue(ctx)
	}
}

// SendDue sends the reports of every day that ended before now, then
// saves the counts without them; it reports how many reports were queued.
// (A crash between the two sends them again at the next start: a report
// twice rather than none.)
func (rp *Reporter) SendDue(ctx context.Context) int {
	defer rp.Save()
	n := 0
	for _, d := range rp.Recorder.Take(rp.now()) {
		domains := make([]string, 0, len(d.Domains))
		for dom := range d.Domains {
			domains = append(domains, dom)
		}
		sort.Strings(domains)
		for _, dom := range domains {
			sent, err := rp.send(ctx, d.Start, d.Domains[dom])
			if err != nil {
				rp.log().Warn("tlsrpt: report not sent", "domain", dom, "day", d.Start.Format(time.DateOnly), "err", err)
			}
			n += sent
		}
	}
	return n
}

// send queues one domain's report to each of its rua addresses.
func (rp *Reporter) send(ctx context.Context, start time.Time, s *Stats) (int, error) {
	ruas, err := LookupRUA(ctx, rp.Resolver, s.Policy.Domain)
	if err != nil {
		return 0, fmt.Errorf("looking up _smtp._tls: %w", err)
	}
	if len(ruas) == 0 {
		rp.log().Debug("tlsrpt: domain asks for no reports", "domain", s.Policy.Domain)
		return 0, nil
	}
	reportID := start.UTC().Format(time.DateOnly) + "_" + s.Policy.Domain + "_" + strconv.FormatInt(rp.now().Unix(), 10) + "@" + rp.Submitter
	body, err := ReportJSON(start, s, rp.Submitter, "mailto:"+rp.From, reportID)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, to := range ruas {
		msg, err := Message(start, s, rp.Submitter, rp.From, to, reportID, body, rp.now())
		if err == nil {
			// The null reverse-path: a report that cannot be delivered
			// must not bounce back and start a loop (as for DSNs).
			err = rp.Store.Deliver(ctx, store.Delivery{Body: bytes.NewReader(msg),
				Outbound: &store.Envelope{Recipients: []store.QueueRecipient{{Address: strings.ToLower(to)}}}})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("to %s: %w", to, err))
			continue
		}
		n++
		rp.log().Info("tlsrpt: report queued", "domain", s.Policy.Domain, "to", to, "success", s.Success, "failure", s.FailureCount())
	}
	return n, errors.Join(errs...)
}
