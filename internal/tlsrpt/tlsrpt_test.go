package tlsrpt

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/resolver"
)

func TestLookupRUA(t *testing.T) {
	res := resolver.NewStatic()
	for _, r := range [][2]string{
		{"_smtp._tls.one.test", `"v=TLSRPTv1; rua=mailto:a@r.test,mailto:b%40x@r.test,https://r.test/report"`},
		{"_smtp._tls.spaced.test", `"v=TLSRPTv1;rua=mailto:tls@r.test?subject=x ;"`},
		{"_smtp._tls.two.test", `"v=TLSRPTv1; rua=mailto:a@r.test"`},
		{"_smtp._tls.two.test", `"v=TLSRPTv1; rua=mailto:b@r.test"`},
		{"_smtp._tls.https.test", `"v=TLSRPTv1; rua=https://r.test/x"`},
		{"_smtp._tls.other.test", `"v=spf1 -all"`},
	} {
		if err := res.Add(r[0], "TXT", r[1]); err != nil {
			t.Fatal(err)
		}
	}
	for domain, want := range map[string][]string{
		"one.test":    {"a@r.test"}, // b%40x@r.test decodes to two @: dropped
		"spaced.test": {"tls@r.test"},
		"two.test":    nil, // RFC 8460 section 3: more than one record, none applies
		"https.test":  nil,
		"other.test":  nil,
		"none.test":   nil,
	} {
		got, err := LookupRUA(context.Background(), res, domain)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %q %v, want %q", domain, got, err, want)
		}
	}
}

func TestRecorderDaysAndLimits(t *testing.T) {
	var r Recorder
	day1 := time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC)
	p := func(d string) Policy { return Policy{Type: "sts", Domain: d} }
	r.Success(day1, p("a.test"))
	r.Fail(day1, p("A.test"), Failure{ResultType: ResultCertExpired, ReceivingMX: "mx.a.test"})
	r.Fail(day1, p("a.test"), Failure{ResultType: ResultCertExpired, ReceivingMX: "mx.a.test"})
	for i := range MaxFailureDetails + 5 {
		r.Fail(day1, p("b.test"), Failure{ResultType: ResultValidationFailure, ReceivingIP: string(rune('a' + i%26)), ReasonCode: time.Duration(i).String()})
	}
	r.Success(day1.Add(2*time.Minute), p("a.test")) // the next day
	if got := r.Take(day1); len(got) != 0 {
		t.Fatalf("Take during the day returned %d days", len(got))
	}
	days := r.Take(day1.Add(time.Hour))
	if len(days) != 1 || !days[0].Start.Equal(time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("days %+v", days)
	}
	a := days[0].Domains["a.test"]
	if a.Success != 1 || a.FailureCount() != 2 || len(a.Failures) != 1 {
		t.Errorf("a.test: %+v", a)
	}
	b := days[0].Domains["b.test"]
	if b.FailureCount() != MaxFailureDetails+5 || len(b.Failures) != MaxFailureDetails+1 {
		t.Errorf("b.test: %d failures in %d rows", b.FailureCount(), len(b.Failures))
	}
	if next := r.Take(day1.Add(48 * time.Hour)); len(next) != 1 || next[0].Domains["a.test"].Success != 1 {
		t.Errorf("the next day: %+v", next)
	}
}

func TestFetchResult(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), ResultSTSWebPKIInvalid},
		{fmt.Errorf("get: %w", x509.HostnameError{}), ResultSTSWebPKIInvalid},
		{fmt.Errorf("%w: no mode", mtasts.ErrInvalidPolicy), ResultSTSPolicyInvalid},
		{errors.New("HTTP status 404"), ResultSTSPolicyFetchError},
	} {
		if got := FetchResult(tc.err); got != tc.want {
			t.Errorf("FetchResult(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	var r Recorder
	r.FetchFailed("a.test", nil, errors.New("HTTP status 404"))
	days := r.Take(time.Now().Add(24 * time.Hour))
	if len(days) != 1 {
		t.Fatalf("days %+v", days)
	}
	s := days[0].Domains["a.test"]
	for f, n := range s.Failures {
		if f.ResultType != ResultSTSPolicyFetchError || n != 1 || s.Policy.Type != "sts" || s.Policy.Strings != nil {
			t.Errorf("recorded %+v %d, policy %+v", f, n, s.Policy)
		}
	}
}
