package queue

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/tlsrpt"
)

// TestTLSReportFailures: sessions with a domain under MTA-STS are
// counted for its TLS report, each failure with its RFC 8460 result type:
// enforce mode refusing an MX without STARTTLS or with a certificate no
// CA vouches for, and testing mode delivering over such a certificate.
func TestTLSReportFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string
		withTLS bool
		trusted bool
		want    string // result type; "" = a success
	}{
		{"enforce, no STARTTLS", stsEnforce, false, false, tlsrpt.ResultSTARTTLSNotSupported},
		{"enforce, untrusted certificate", stsEnforce, true, false, tlsrpt.ResultCertNotTrusted},
		{"enforce, valid certificate", stsEnforce, true, true, ""},
		{"testing, untrusted certificate", stsTesting, true, false, tlsrpt.ResultCertNotTrusted},
		{"testing, valid certificate", stsTesting, true, true, ""},
		{"testing, no STARTTLS", stsTesting, false, false, tlsrpt.ResultSTARTTLSNotSupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, tc.withTLS)
			f := newFixture(t, s)
			if tc.trusted {
				f.w.RootCAs = sinkRoots(t, s)
			}
			withSTS(t, f, tc.policy)
			rec := &tlsrpt.Recorder{}
			f.w.TLSReports = rec
			f.submit(t, "alice@a.test", "bob@remote.test")
			f.start(t)
			if tc.policy == stsEnforce && tc.want != "" {
				deferredWith(t, f)
			} else {
				waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
			}
			days := rec.Take(time.Now().Add(24 * time.Hour))
			if len(days) != 1 || days[0].Domains["remote.test"] == nil {
				t.Fatalf("recorded %+v, want one day with remote.test", days)
			}
			st := days[0].Domains["remote.test"]
			if st.Policy.Type != "sts" || st.Policy.Domain != "remote.test" || strings.Join(st.Policy.MXHosts, ",") != "mx.remote.test" {
				t.Errorf("policy %+v", st.Policy)
			}
			if tc.want == "" {
				if st.Success < 1 || st.FailureCount() != 0 {
					t.Errorf("success %d, failures %v; want successes only", st.Success, st.Failures)
				}
				return
			}
			if st.Success != 0 || st.FailureCount() < 1 {
				t.Fatalf("success %d, failures %v; want failures only", st.Success, st.Failures)
			}
			for f := range st.Failures {
				if f.ResultType != tc.want || f.ReceivingMX != "mx.remote.test" || f.ReceivingIP != "127.0.0.1" {
					t.Errorf("failure %+v, want %s at mx.remote.test 127.0.0.1", f, tc.want)
				}
			}
		})
	}
}

// TestTLSReportSentThroughQueue: the day's report for a domain whose
// _smtp._tls record names a mailto: rua goes out through the queue as
// RFC 8460 section 5.3 describes it, and its gzipped JSON says what
// happened (section 4.4).
func TestTLSReportSentThroughQueue(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	withSTS(t, f, stsTesting)
	if err := f.res.Add("_smtp._tls.remote.test", "TXT", `"v=TLSRPTv1; rua=mailto:tls-reports@remote.test,https://reports.remote.test/x"`); err != nil {
		t.Fatal(err)
	}
	rec := &tlsrpt.Recorder{}
	f.w.TLSReports = rec
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the message to arrive", func() bool { return s.count("bob@remote.test") == 1 })

	tomorrow := time.Now().Add(24 * time.Hour)
	rp := &tlsrpt.Reporter{Recorder: rec, Resolver: f.res, Store: f.st, Submitter: "mail.a.test",
		From: "tlsrpt-noreply@a.test", Now: func() time.Time { return tomorrow }}
	if n := rp.SendDue(context.Background()); n != 1 {
		t.Fatalf("%d reports queued, want 1", n)
	}
	waitFor(t, "the report to arrive", func() bool { return s.count("tls-reports@remote.test") == 1 })
	var got received
	for _, m := range s.messages() {
		if m.to[0] == "tls-reports@remote.test" {
			got = m
		}
	}
	if got.from != "" {
		t.Errorf("report sent from <%s>, want the null reverse-path", got.from)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got.body))
	if err != nil {
		t.Fatal(err)
	}
	if h := msg.Header; h.Get("TLS-Report-Domain") != "remote.test" || h.Get("TLS-Report-Submitter") != "mail.a.test" ||
		!strings.HasPrefix(h.Get("Subject"), "Report Domain: remote.test Submitter: mail.a.test Report-ID: <") {
		t.Errorf("report header: %v", h)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	if p, err := mr.NextPart(); err != nil || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("first part: %v %v", p, err)
	}
	p, err := mr.NextPart()
	if err != nil || p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
		t.Fatalf("second part: %v %v", p, err)
	}
	if fn := p.FileName(); !strings.HasPrefix(fn, "mail.a.test!remote.test!") || !strings.HasSuffix(fn, ".json.gz") {
		t.Errorf("file name %q", fn)
	}
	// multipart decodes quoted-printable only; base64 is ours to undo.
	raw, _ := io.ReadAll(p)
	gz, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Org       string `json:"organization-name"`
		DateRange struct {
			Start time.Time `json:"start-datetime"`
			End   time.Time `json:"end-datetime"`
		} `json:"date-range"`
		Contact  string `json:"contact-info"`
		ID       string `json:"report-id"`
		Policies []struct {
			Policy struct {
				Type   string   `json:"policy-type"`
				String []string `json:"policy-string"`
				Domain string   `json:"policy-domain"`
				MX     []string `json:"mx-host"`
			} `json:"policy"`
			Summary struct {
				Success int `json:"total-successful-session-count"`
				Failure int `json:"total-failure-session-count"`
			} `json:"summary"`
			Details []map[string]any `json:"failure-details"`
		} `json:"policies"`
	}
	if err := json.NewDecoder(zr).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	y, mo, d := time.Now().UTC().Date()
	if rep.Org != "mail.a.test" || rep.Contact != "mailto:tlsrpt-noreply@a.test" || rep.ID == "" ||
		!rep.DateRange.Start.Equal(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)) ||
		rep.DateRange.End.Sub(rep.DateRange.Start) != 24*time.Hour-time.Second || len(rep.Policies) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	pol := rep.Policies[0]
	if pol.Policy.Type != "sts" || pol.Policy.Domain != "remote.test" || strings.Join(pol.Policy.MX, ",") != "mx.remote.test" ||
		strings.Join(pol.Policy.String, "|") != "version: STSv1|mode: testing|mx: mx.remote.test|max_age: 86400" {
		t.Errorf("policy: %+v", pol.Policy)
	}
	if pol.Summary.Success != 0 || pol.Summary.Failure != 1 || len(pol.Details) != 1 {
		t.Fatalf("summary %+v, details %v", pol.Summary, pol.Details)
	}
	want := map[string]any{"result-type": "certificate-not-trusted", "sending-mta-ip": "127.0.0.1",
		"receiving-mx-hostname": "mx.remote.test", "receiving-ip": "127.0.0.1", "failed-session-count": float64(1)}
	for k, v := range want {
		if pol.Details[0][k] != v {
			t.Errorf("failure detail %s = %v, want %v", k, pol.Details[0][k], v)
		}
	}
	// Nothing left to send, and a domain without a record gets nothing.
	if n := rp.SendDue(context.Background()); n != 0 {
		t.Errorf("%d more reports", n)
	}
}
