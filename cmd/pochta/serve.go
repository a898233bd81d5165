package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/smtp"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// pop3Refusal answers connections over a limit (RFC 3206 SYS/TEMP: the
// client should try again later).
const pop3Refusal = "-ERR [SYS/TEMP] Too many connections\r\n"

// smtpRefusal is RFC 5321 section 3.1's 421 in place of the greeting.
const smtpRefusal = "421 4.7.0 Too many connections, try again later\r\n"

// expireSweepInterval is how often messages past pop3.expire are removed
// for accounts that do not log in (a login expires its own at once).
const expireSweepInterval = time.Hour

// overrides collects repeated -o key=value flags.
type overrides []string

func (o *overrides) String() string     { return fmt.Sprint(*o) }
func (o *overrides) Set(v string) error { *o = append(*o, v); return nil }

func (c *cli) serveCmd(args []string) error {
	fs := newFlags("serve", c.env)
	dir := c.dirFlag(fs)
	var ov overrides
	fs.Var(&ov, "o", "override a configuration `key=value` (repeatable)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("serve: unexpected argument %q", rest[0])
	}
	cfg, err := c.loadConfig(*dir, ov)
	if err != nil {
		return err
	}
	if err := cfg.ValidateFiles(); err != nil {
		return withCode(exitConfig, err)
	}
	log := c.newLogger(cfg.Log.Level, cfg.Log.Format)
	for _, k := range config.Keys() {
		v, _ := cfg.Get(k)
		log.Debug("config", "key", k, "value", v)
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	unlock, err := lockDir(cfg.Dir)
	if err != nil {
		return err
	}
	defer unlock()

	st, err := c.openStoreRecovering(cfg, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer st.Close()
	if n, size := smtp.RemoveStaleSpools(os.TempDir(), time.Minute); n > 0 {
		log.Info("removed stale SMTP spool files", "count", n, "bytes", size)
	}

	var certs *tlsutil.CertStore
	var acmeCerts *tlsutil.ACME
	var tlsConfig *tls.Config
	switch {
	case cfg.TLS.ACME:
		acmeCerts = newACME(cfg, st, log.With("component", "acme"))
		tlsConfig = acmeCerts.TLSConfig()
	case cfg.TLS.Cert != "":
		if certs, err = tlsutil.NewCertStore(cfg.Path(cfg.TLS.Cert), cfg.Path(cfg.TLS.Key), log); err != nil {
			return withCode(exitConfig, err)
		}
		tlsConfig = certs.TLSConfig()
	}
	// One auth service for every protocol: one credentials cache, one
	// failed-login throttle.
	authSvc := newAuth(cfg, st, log.With("component", "auth"))
	dns, err := newDNS(cfg)
	if err != nil {
		return err
	}
	signer, err := newSigner(cfg)
	if err != nil {
		return err
	}
	worker, err := newQueueWorker(cfg, st, dns, newResolver(cfg, st), signer, log.With("component", "queue"))
	if err != nil {
		return err
	}
	m := metrics.New()
	m.SetQueueStats(queueStats(st))
	fetcher, err := newFetcher(cfg, st, m, log.With("component", "fetch"))
	if err != nil {
		return err
	}
	worker.Observer = m
	logins := newLoginRecorder(st, authSvc.NormalizeLogin, log)
	counted := func(proto string) countingAuth {
		return countingAuth{Service: authSvc, proto: proto, metrics: m, logins: logins}
	}
	deliverer, err := newDeliverer(cfg, st, log)
	if err != nil {
		return err
	}
	smtpSrv := newSMTP(cfg, st, deliverer, counted("smtp"), tlsConfig, log)
	smtpSrv.Metrics = m
	smtpSrv.Deliverer.Store = kickingStore{Deliverer: st, kick: worker.Kick, metrics: m}
	if cfg.SMTP.AuthChecks {
		smtpSrv.Checker = countingChecker{Checker: &msgauth.Checker{Resolver: dns, AuthServID: hostname(cfg)}, metrics: m}
		smtpSrv.DMARCReject = cfg.SMTP.DMARCReject
	}
	srv := &server.Server{
		TLSConfig:           tlsConfig,
		MaxConnections:      cfg.Limits.MaxConnections,
		MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		Logger:              log,
		Observer:            m,
	}
	hs := newHTTPSide(cfg, st, m, acmeCerts, log.With("component", "web"))
	defer hs.close()
	pop3Srv := newPOP3(cfg, st, counted("pop3"), tlsConfig, log)
	pop3Srv.Metrics = m
	imapSrv := newIMAP(cfg, st, counted("imap"), tlsConfig, log)
	imapSrv.Metrics = m
	srv.Listeners = append(listeners(cfg, pop3Srv), imapListeners(cfg, imapSrv)...)
	srv.Listeners = append(srv.Listeners, smtpListeners(cfg, smtpSrv)...)
	srv.Listeners = append(srv.Listeners, manageSieveListeners(cfg, st, counted("managesieve"), tlsConfig, log)...)
	srv.Listeners = append(srv.Listeners, hs.listeners(cfg)...)
	if len(srv.Listeners) == 0 {
		return withCode(exitConfig, errors.New("config: no listener enabled (every *.listen key is empty)"))
	}
	if err := srv.Start(); err != nil {
		return err
	}
	hs.site.SetServices(services(cfg, srv.Addr))
	hs.listening.Store(true)
	if acmeCerts != nil {
		go prefetchCertificate(acmeCerts, log)
	}
	log.Info("pochta started", "version", version(), "dir", cfg.Dir, "hostname", hostname(cfg))

	sweepCtx, stopSweep := context.WithCancel(context.Background())
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		expireSweep(sweepCtx, cfg, st, log)
	}()
	loginsCtx, stopLogins := context.WithCancel(context.Background())
	loginsDone := make(chan struct{})
	go func() {
		defer close(loginsDone)
		logins.run(loginsCtx)
	}()
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	fetchDone := make(chan struct{})
	go func() {
		defer close(fetchDone)
		if cfg.Fetch.Enabled {
			fetcher.Run(fetchCtx)
		}
	}()
	queueCtx, stopQueue := context.WithCancel(context.Background())
	queueDone := make(chan struct{})
	go func() {
		defer close(queueDone)
		var reports sync.WaitGroup
		rp := newTLSReporter(cfg, worker, smtpSrv.Deliverer.Store, dns, log.With("component", "tlsrpt"))
		if rp != nil {
			reports.Go(func() { rp.Run(queueCtx) })
		}
		worker.Run(queueCtx)
		reports.Wait()
		if rp != nil {
			rp.Save() // the sessions counted since the last save
		}
	}()

	c.waitForStop(certs, log)
	hs.listening.Store(false)
	log.Info("shutting down", "timeout", cfg.Shutdown.Timeout.D())
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Timeout.D())
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("sessions still running at shutdown.timeout were closed", "err", err)
	}
	stopSweep()
	<-sweepDone
	// A fetch cut here stored each message it reported in full, or not
	// at all; the remote deletions not yet made are made next time.
	stopFetch()
	<-fetchDone
	stopLogins() // after the sessions: their logins are in the last batch
	<-loginsDone
	// Deliveries in flight are cut and made due at once for the next
	// start; a remote 250 already received is recorded first.
	stopQueue()
	<-queueDone
	log.Info("stopped")
	return nil
}

// waitForStop blocks until SIGTERM or SIGINT, reloading the certificate on
// every SIGHUP.
func (c *cli) waitForStop(certs *tlsutil.CertStore, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-hup:
			if certs == nil {
				log.Info("SIGHUP: no certificate files to reload (tls.cert is empty, or tls.acme renews by itself)")
				continue
			}
			certs.Reload() // logs either way; a failure keeps the old certificate
		}
	}
}

func newPOP3(cfg *config.Config, st store.Store, a pop3.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *pop3.Server {
	expire, _ := cfg.POP3.Expire.Duration() // never = 0 = EXPIRE NEVER
	return &pop3.Server{
		Hostname:       hostname(cfg),
		Auth:           a,
		Maildrops:      st,
		Logger:         log,
		TLSConfig:      tlsConfig,
		AllowPlaintext: cfg.Auth.AllowPlaintext,
		IdleTimeout:    cfg.POP3.IdleTimeout.D(),
		LineTimeout:    cfg.Limits.LineTimeout.D(),
		Pacing:         pacing(cfg),
		LoginDelay:     cfg.POP3.LoginDelay.D(),
		Expire:         expire,
		EnableLAST:     cfg.POP3.EnableLast,
		MaxBadCommands: cfg.POP3.MaxBadCommands,
	}
}

func listeners(cfg *config.Config, p *pop3.Server) []server.Listener {
	var ls []server.Listener
	if cfg.POP3.Listen != "" {
		ls = append(ls, server.Listener{Name: "pop3", Key: "pop3.listen", Addr: cfg.POP3.Listen,
			TLS: server.TLSNone, Handler: p, Refusal: pop3Refusal})
	}
	if cfg.POP3S.Listen != "" {
		ls = append(ls, server.Listener{Name: "pop3s", Key: "pop3s.listen", Addr: cfg.POP3S.Listen,
			TLS: server.TLSImplicit, Handler: p, Refusal: pop3Refusal})
	}
	return ls
}

func newSMTP(cfg *config.Config, st store.Store, d *delivery.Deliverer, authSvc smtp.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *smtp.Server {
	return &smtp.Server{
		Hostname:          hostname(cfg),
		Auth:              authSvc,
		Resolver:          newResolver(cfg, st),
		Deliverer:         d,
		Logger:            log,
		TLSConfig:         tlsConfig,
		AllowPlaintext:    cfg.Auth.AllowPlaintext,
		MaxMessageSize:    int64(cfg.Limits.MaxMessageSize),
		MaxRecipients:     cfg.SMTP.MaxRecipients,
		CommandTimeout:    cfg.SMTP.CommandTimeout.D(),
		DataTimeout:       cfg.SMTP.DataTimeout.D(),
		MaxLineLength:     cfg.SMTP.MaxLineLength,
		RejectBareLF:      cfg.SMTP.BareNewline == "reject",
		MaxErrors:         cfg.SMTP.MaxErrors,
		Pacing:            pacing(cfg),
		FromAny:           cfg.SMTP.FromPolicy == "any",
		RecipientsPerHour: cfg.SMTP.RecipientsPerHour,
		SendLog:           st,
		QuotaPermanent:    !cfg.Delivery.QuotaTemporary,
	}
}

// smtpListeners are MX (plain, STARTTLS offered), submission (STARTTLS)
// and submissions (implicit TLS: internal/server handshakes, as for
// pop3s and imaps, and writes its refusal after a handshake).
func smtpListeners(cfg *config.Config, s *smtp.Server) []server.Listener {
	var ls []server.Listener
	if cfg.SMTP.Listen != "" {
		ls = append(ls, server.Listener{Name: "smtp", Key: "smtp.listen", Addr: cfg.SMTP.Listen,
			Handler: s.Handler(smtp.ModeMX), Refusal: smtpRefusal})
	}
	if cfg.Submission.Listen != "" {
		ls = append(ls, server.Listener{Name: "submission", Key: "submission.listen", Addr: cfg.Submission.Listen,
			Handler: s.Handler(smtp.ModeSubmission), Refusal: smtpRefusal})
	}
	if cfg.Submissions.Listen != "" {
		ls = append(ls, server.Listener{Name: "submissions", Key: "submissions.listen", Addr: cfg.Submissions.Listen,
			TLS: server.TLSImplicit, Handler: s.Handler(smtp.ModeSubmission), Refusal: smtpRefusal})
	}
	return ls
}

// pacing is the slow-client bounds every protocol shares (limits.*).
func pacing(cfg *config.Config) server.Pacing {
	return server.Pacing{
		LineTimeout: cfg.Limits.LineTimeout.D(),
		MinRate:     int64(cfg.Limits.MinDataRate),
		MaxSession:  cfg.Limits.MaxSession.D(),
	}
}

func hostname(cfg *config.Config) string {
	if cfg.Hostname != "" {
		return cfg.Hostname
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// expireSweep enforces pop3.expire for every account, at start and then
// hourly, until ctx ends.
func expireSweep(ctx context.Context, cfg *config.Config, st store.Maildrops, log *slog.Logger) {
	keep, ok := cfg.POP3.Expire.Duration()
	if !ok {
		return
	}
	tick := time.NewTicker(expireSweepInterval)
	defer tick.Stop()
	// A store shared by several nodes runs the sweep once per cluster:
	// the first node to claim it each interval.
	claimer, shared := st.(interface {
		ClaimJob(ctx context.Context, name string, every time.Duration) (bool, error)
	})
	for {
		run := true
		if shared {
			var err error
			if run, err = claimer.ClaimJob(ctx, "expire", expireSweepInterval-time.Minute); err != nil {
				log.Warn("claiming the expire sweep", "err", err)
				run = true // running it twice is safe, only wasteful
			}
		}
		var n int
		var err error
		if run {
			n, err = st.Expire(ctx, 0, time.Now().Add(-keep))
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("expire sweep failed", "err", err)
		case n > 0:
			log.Info("expired retrieved messages", "count", n, "older_than", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
