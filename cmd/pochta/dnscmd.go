package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/store"
)

// dnsCmd: dns DOMAIN prints, as zone-file lines, every record a mail
// domain served here needs: MX, SPF, DKIM (one per key), DMARC and the
// RFC 6186 / RFC 8314 SRV records that let clients find submission, IMAP
// and POP3.
func (c *cli) dnsCmd(args []string) error {
	fs := newFlags("dns", c.env)
	dir := c.dirFlag(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: pochta dns DOMAIN")
	}
	domain, err := admin.Domain(rest[0]) // an IDN's records are under its A-labels
	if err != nil {
		return err
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Domain(c.ctx, domain); errors.Is(err, store.ErrNotFound) {
		fmt.Fprintf(c.stderr, "pochta: warning: %s is not a domain of this server (pochta domain add %s)\n", domain, domain)
	} else if err != nil {
		return err
	}
	keys, err := msgauth.LoadKeys(dkimDir(cfg))
	if err != nil {
		return err
	}
	host := hostname(cfg)
	w := c.stdout
	fmt.Fprintf(w, "; DNS records for %s, served by %s. Publish them in the %s zone.\n", domain, host, domain)
	fmt.Fprintf(w, "; %s needs A/AAAA records with this server's public addresses, and a PTR for each.\n", host)
	fmt.Fprintf(w, "%s. MX 10 %s.\n", domain, host)
	// SPF: the MX hosts send this domain's mail (RFC 7208).
	fmt.Fprintf(w, "%s. TXT \"v=spf1 mx -all\"\n", domain)
	n := 0
	for _, k := range keys {
		if k.Domain == domain {
			name, text := k.Record()
			fmt.Fprintln(w, zoneTXT(name, text))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintf(w, "; no DKIM key for %s yet: pochta dkim keygen %s (prints its record)\n", domain, domain)
	}
	// DMARC: start at quarantine with relaxed alignment, reports to
	// postmaster (RFC 7489 6.3).
	fmt.Fprintf(w, "_dmarc.%s. TXT \"v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:postmaster@%s\"\n", domain, domain)
	// RFC 6186 / RFC 8314 service records; target "." says "not offered".
	for _, s := range []struct{ service, listen string }{
		{"_submissions._tcp", cfg.Submissions.Listen},
		{"_submission._tcp", cfg.Submission.Listen},
		{"_imaps._tcp", cfg.IMAPS.Listen},
		{"_imap._tcp", cfg.IMAP.Listen},
		{"_pop3s._tcp", cfg.POP3S.Listen},
		{"_pop3._tcp", cfg.POP3.Listen},
	} {
		fmt.Fprintf(w, "%s.%s. SRV %s\n", s.service, domain, srvData(s.listen, host))
	}
	c.printWebRecords(cfg, domain, host)
	return nil
}

// printWebRecords prints the names clients and other servers fetch over
// HTTPS: autoconfig (Thunderbird), autodiscover (Outlook), and MTA-STS
// (RFC 8461) with TLS reporting (RFC 8460).
func (c *cli) printWebRecords(cfg *config.Config, domain, host string) {
	w := c.stdout
	if cfg.HTTP.Listen == "" && cfg.HTTPS.Listen == "" {
		fmt.Fprintln(w, "; http.listen and https.listen are empty: no autoconfig, autodiscover or MTA-STS records")
		return
	}
	fmt.Fprintf(w, "; HTTPS names: the certificate must cover them (tls.acme does).\n")
	fmt.Fprintf(w, "autoconfig.%s. CNAME %s.\n", domain, host)
	fmt.Fprintf(w, "autodiscover.%s. CNAME %s.\n", domain, host)
	fmt.Fprintf(w, "_autodiscover._tcp.%s. SRV %s\n", domain, srvData(cfg.HTTPS.Listen, host))
	p := publishedPolicy(cfg)
	if p.Mode == "" {
		fmt.Fprintln(w, "; mta_sts.mode is empty: no MTA-STS policy published")
		return
	}
	fmt.Fprintf(w, "mta-sts.%s. CNAME %s.\n", domain, host)
	fmt.Fprintf(w, "_mta-sts.%s. TXT \"v=STSv1; id=%s\"\n", domain, p.ID())
	fmt.Fprintf(w, "_smtp._tls.%s. TXT \"v=TLSRPTv1; rua=mailto:postmaster@%s\"\n", domain, domain)
}

// srvData is "priority weight port target" for a listener, or the
// RFC 2782 "service not available" record when it is disabled.
func srvData(listen, host string) string {
	if listen == "" {
		return "0 0 0 ."
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "0 0 0 ."
	}
	return "0 1 " + port + " " + host + "."
}
