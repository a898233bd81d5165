package queue

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"

	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/tlsrpt"
)

// TLS reporting (RFC 8460): every new session with an MX host of a domain
// under an MTA-STS policy is counted for the domain's daily report, as a
// success or as a failure with its result type. A session in "enforce"
// mode was verified by its handshake; in "testing" mode the session is
// opportunistic, so the certificate is checked here, for the report only
// (section 4.3 of RFC 8461: testing mode reports what enforce would
// refuse). Connections that fail before TLS (refused, timed out) are not
// TLS sessions and are not counted.

// reportSession counts one new session (c, or the error that stopped it)
// with one address of a domain's hop.
func (w *Worker) reportSession(domain string, hop Hop, addr netip.Addr, c *client, err error) {
	if w.TLSReports == nil || !w.stsApplies(domain) {
		return
	}
	p := w.MTASTS.Cached(domain)
	if p == nil || p.Mode == mtasts.ModeNone {
		return
	}
	policy := tlsrpt.STSPolicy(domain, p)
	f := tlsrpt.Failure{ReceivingMX: hop.Host, ReceivingIP: addr.String()}
	if err != nil {
		if f.ResultType, f.ReasonCode = tlsResult(err); f.ResultType != "" {
			w.TLSReports.Fail(w.now(), policy, f)
		}
		return
	}
	if a, ok := c.raw.LocalAddr().(*net.TCPAddr); ok {
		f.SendingIP = a.IP.String()
	}
	if !c.tls {
		f.ResultType = tlsrpt.ResultSTARTTLSNotSupported
		w.TLSReports.Fail(w.now(), policy, f)
		return
	}
	if p.Mode != mtasts.ModeEnforce {
		if err := w.verifyPeer(c, hop.Host); err != nil {
			f.ResultType, f.ReasonCode = tlsResult(err)
			w.TLSReports.Fail(w.now(), policy, f)
			return
		}
	}
	w.TLSReports.Success(w.now(), policy)
}

// verifyPeer checks an opportunistic session's certificate as a verified
// one would have been checked.
func (w *Worker) verifyPeer(c *client, host string) error {
	certs := c.peerCertificates()
	if len(certs) == 0 {
		return x509.UnknownAuthorityError{}
	}
	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: w.RootCAs, Intermediates: inter})
	return err
}

// tlsResult classifies a session's failure: the RFC 8460 result type
// ("" when it was not a TLS failure) and, for the general
// validation-failure, a reason.
func tlsResult(err error) (result, reason string) {
	var (
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		unknown x509.UnknownAuthorityError
		pe      *policyError
	)
	switch {
	case errors.As(err, &host):
		return tlsrpt.ResultCertHostMismatch, ""
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return tlsrpt.ResultCertExpired, ""
	case errors.As(err, &unknown):
		return tlsrpt.ResultCertNotTrusted, ""
	case errors.As(err, &invalid):
		return tlsrpt.ResultValidationFailure, "certificate invalid"
	case errors.As(err, &pe) && pe.status == "4.7.4":
		return tlsrpt.ResultSTARTTLSNotSupported, ""
	case errors.As(err, &pe) && pe.cause != nil:
		var alert tls.AlertError
		if errors.As(pe.cause, &alert) {
			return tlsrpt.ResultValidationFailure, "TLS alert: " + alert.Error()
		}
		return tlsrpt.ResultValidationFailure, "TLS handshake failed"
	}
	return "", ""
}
