package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/tlsutil"
	"github.com/pochta-mail/pochta/internal/web"
)

// httpSide is the HTTP part of serve: the public site (autoconfig,
// autodiscover, mobileconfig, MTA-STS) and the operator endpoints
// (metrics, health), each an http.Server behind internal/server.
type httpSide struct {
	site      *web.Site
	public    *web.Server // https, and http without ACME
	plain     *web.Server // http: the site plus ACME HTTP-01 challenges
	ops       *web.Server
	listening atomic.Bool // set once every listener is up, cleared at shutdown
}

func newHTTPSide(cfg *config.Config, st store.Store, m *metrics.Metrics, acmeCerts *tlsutil.ACME, log *slog.Logger) *httpSide {
	h := &httpSide{}
	h.site = &web.Site{
		Hostname: hostname(cfg),
		IsDomain: func(ctx context.Context, d string) (bool, error) {
			_, err := st.Domain(ctx, d)
			if errors.Is(err, store.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
		MTASTS: publishedPolicy(cfg),
		Logger: log,
	}
	h.site.SetServices(services(cfg, nil))
	h.public = web.NewServer(h.site.Handler(), log)
	h.plain = h.public
	if acmeCerts != nil {
		h.plain = web.NewServer(acmeCerts.HTTPHandler(h.site.Handler()), log)
	}
	ops := &web.Ops{Metrics: m.Handler(), Checks: []web.Check{
		{Name: "store", Func: func(ctx context.Context) error { _, err := st.Domains(ctx); return err }},
		{Name: "listeners", Func: func(context.Context) error {
			if !h.listening.Load() {
				return errors.New("not listening (starting or shutting down)")
			}
			return nil
		}},
	}}
	h.ops = web.NewServer(ops.Handler(), log)
	return h
}

func (h *httpSide) listeners(cfg *config.Config) []server.Listener {
	var ls []server.Listener
	if cfg.HTTP.Listen != "" {
		ls = append(ls, server.Listener{Name: "http", Key: "http.listen", Addr: cfg.HTTP.Listen,
			Handler: h.plain, Refusal: web.Refusal})
	}
	if cfg.HTTPS.Listen != "" {
		ls = append(ls, server.Listener{Name: "https", Key: "https.listen", Addr: cfg.HTTPS.Listen,
			TLS: server.TLSImplicit, Handler: h.public, Refusal: web.Refusal})
	}
	if cfg.Metrics.Listen != "" {
		ls = append(ls, server.Listener{Name: "metrics", Key: "metrics.listen", Addr: cfg.Metrics.Listen,
			Handler: h.ops, Refusal: web.Refusal})
	}
	return ls
}

func (h *httpSide) close() {
	if h.plain != h.public {
		h.plain.Close()
	}
	h.public.Close()
	h.ops.Close()
}

// newACME sets up ACME certificates for the hostname and the client-facing
// names of every local domain (autoconfig., autodiscover., mta-sts.).
func newACME(cfg *config.Config, st store.Directory, log *slog.Logger) *tlsutil.ACME {
	host := hostname(cfg)
	return tlsutil.NewACME(tlsutil.ACMEOptions{
		CacheDir:     cfg.Path("acme"),
		Email:        cfg.TLS.ACMEEmail,
		DirectoryURL: cfg.TLS.ACMEDirectory,
		Hostname:     host,
		Allowed: func(ctx context.Context, name string) error {
			if name == host {
				return nil
			}
			for _, prefix := range []string{"autoconfig.", "autodiscover.", "mta-sts."} {
				if d, ok := strings.CutPrefix(name, prefix); ok {
					if _, err := st.Domain(ctx, d); err == nil {
						return nil
					}
				}
			}
			return fmt.Errorf("%s is not a name of this server", name)
		},
		Logger: log,
	})
}

// prefetchCertificate gets the hostname's certificate at start, so the
// first client does not wait for the CA; failures are retried by the
// next handshake.
func prefetchCertificate(a *tlsutil.ACME, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.Prefetch(ctx); err != nil {
		log.Error("acme: could not get a certificate for the hostname yet", "err", err)
		return
	}
	log.Info("acme: certificate for the hostname ready")
}

// publishedPolicy is the MTA-STS policy for every local domain: this
// server is the one MX.
func publishedPolicy(cfg *config.Config) mtasts.Policy {
	if cfg.MTASTS.Mode == "" {
		return mtasts.Policy{}
	}
	return mtasts.Policy{Mode: mtasts.Mode(cfg.MTASTS.Mode), MX: []string{hostname(cfg)}, MaxAge: cfg.MTASTS.MaxAge.D()}
}

// services tells clients where the mail services are, preferring
// implicit TLS (RFC 8314). bound, when not nil, gives the port a listener
// actually got (for port 0 in tests); else the configured port is used.
func services(cfg *config.Config, bound func(name string) net.Addr) web.Services {
	tlsOn := cfg.TLSOn()
	ep := func(name, listen string, sec web.Security) web.Endpoint {
		if listen == "" {
			return web.Endpoint{}
		}
		if bound != nil {
			if a, ok := bound(name).(*net.TCPAddr); ok {
				return web.Endpoint{Port: a.Port, Security: sec}
			}
		}
		_, p, err := net.SplitHostPort(listen)
		port, _ := strconv.Atoi(p)
		if err != nil {
			port = 0
		}
		return web.Endpoint{Port: port, Security: sec}
	}
	plainSec := web.StartTLS
	if !tlsOn {
		plainSec = web.Plain
	}
	var sv web.Services
	if tlsOn {
		sv.IMAP = append(sv.IMAP, ep("imaps", cfg.IMAPS.Listen, web.Implicit))
		sv.POP3 = append(sv.POP3, ep("pop3s", cfg.POP3S.Listen, web.Implicit))
		sv.Submission = append(sv.Submission, ep("submissions", cfg.Submissions.Listen, web.Implicit))
	}
	sv.IMAP = append(sv.IMAP, ep("imap", cfg.IMAP.Listen, plainSec))
	sv.POP3 = append(sv.POP3, ep("pop3", cfg.POP3.Listen, plainSec))
	sv.Submission = append(sv.Submission, ep("submission", cfg.Submission.Listen, plainSec))
	return sv
}

// queueStats reads the queue's depth and oldest message for the gauges.
func queueStats(st store.Queue) metrics.QueueStatsFunc {
	return func(ctx context.Context) (int, time.Time, error) {
		msgs, err := st.QueuedMessages(ctx)
		if err != nil || len(msgs) == 0 {
			return 0, time.Time{}, err
		}
		oldest := msgs[0].Created
		for _, m := range msgs[1:] {
			if m.Created.Before(oldest) {
				oldest = m.Created
			}
		}
		return len(msgs), oldest, nil
	}
}

// countingAuth is the auth service as one protocol sees it: it counts
// logins by mechanism and result where the credentials are checked
// ("password" for USER/PASS and IMAP LOGIN, "apop", or the SASL mechanism),
// the throttle's delays, and notes last logins.
type countingAuth struct {
	*auth.Service
	proto   string
	metrics *metrics.Metrics
	logins  *loginRecorder
}

func (a countingAuth) CheckPassword(ctx context.Context, login, password string) (store.Account, error) {
	acct, err := a.Service.CheckPassword(ctx, login, password)
	a.metrics.Login(a.proto, "password", err == nil)
	return acct, err
}

func (a countingAuth) CheckAPOP(ctx context.Context, login, timestamp, digestHex string) (store.Account, error) {
	acct, err := a.Service.CheckAPOP(ctx, login, timestamp, digestHex)
	a.metrics.Login(a.proto, "apop", err == nil)
	return acct, err
}

func (a countingAuth) NewSASL(ctx context.Context, mech, host string) (auth.SASLSession, error) {
	s, err := a.Service.NewSASL(ctx, mech, host)
	if err != nil {
		return s, err // not a mechanism we offer: no login attempt
	}
	return &countingSASL{SASLSession: s, a: a, mech: strings.ToLower(mech)}, nil
}

func (a countingAuth) LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration {
	d := a.Service.LoginFailed(ctx, login, ip)
	a.metrics.ThrottleDelay(d)
	return d
}

func (a countingAuth) LoginSucceeded(login string, ip netip.Addr) {
	a.logins.note(login)
	a.Service.LoginSucceeded(login, ip)
}

// countingSASL counts one SASL exchange when it ends (success or error);
// an exchange the client abandons is not a login attempt.
type countingSASL struct {
	auth.SASLSession
	a       countingAuth
	mech    string // one NewSASL accepted: a fixed set
	counted bool
}

func (c *countingSASL) Next(resp []byte) ([]byte, bool, error) {
	ch, done, err := c.SASLSession.Next(resp)
	if !c.counted && (done || err != nil) {
		c.counted = true
		c.a.metrics.Login(c.a.proto, c.mech, err == nil)
	}
	return ch, done, err
}

// countingChecker counts the SPF, DKIM and DMARC results of MX mail.
type countingChecker struct {
	*msgauth.Checker
	metrics *metrics.Metrics
}

func (c countingChecker) Check(ctx context.Context, in msgauth.Input, msg io.ReadSeeker) (msgauth.Verdict, error) {
	v, err := c.Checker.Check(ctx, in, msg)
	if err != nil {
		return v, err
	}
	c.metrics.AuthResult("spf", string(v.SPF))
	if len(v.DKIM) == 0 {
		c.metrics.AuthResult("dkim", "none")
	}
	for _, d := range v.DKIM {
		c.metrics.AuthResult("dkim", d.Result)
	}
	c.metrics.AuthResult("dmarc", v.DMARC.Result)
	return v, nil
}
