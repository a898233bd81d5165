package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/queue"
	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/tlsrpt"
)

// newDNS is the system resolver, or the dns.zone_file table when set.
func newDNS(cfg *config.Config) (resolver.Resolver, error) {
	if cfg.DNS.ZoneFile == "" {
		return net.DefaultResolver, nil
	}
	z, err := resolver.LoadZone(cfg.Path(cfg.DNS.ZoneFile))
	if err != nil {
		return nil, withCode(exitConfig, &config.KeyError{Key: "dns.zone_file", Err: err})
	}
	return z, nil
}

// dkimDir holds the DKIM keys: DIR/dkim/DOMAIN/SELECTOR.pem.
func dkimDir(cfg *config.Config) string { return filepath.Join(cfg.Dir, "dkim") }

// newSigner loads the DKIM keys; nil (no signing) when there are none.
func newSigner(cfg *config.Config) (*msgauth.Signer, error) {
	keys, err := msgauth.LoadKeys(dkimDir(cfg))
	if err != nil {
		return nil, withCode(exitConfig, fmt.Errorf("dkim keys: %w", err))
	}
	return msgauth.NewSigner(keys), nil
}

// newQueueWorker builds the delivery worker from the queue.* keys.
func newQueueWorker(cfg *config.Config, st store.Store, dns resolver.Resolver, local *delivery.Resolver,
	signer *msgauth.Signer, log *slog.Logger) (*queue.Worker, error) {
	q := cfg.Queue
	keyErr := func(key string, err error) error {
		return withCode(exitConfig, &config.KeyError{Key: key, Err: err})
	}
	routes, err := queue.ParseRoutes(q.Routes, q.RemotePort)
	if err != nil {
		return nil, keyErr("queue.routes", err)
	}
	w := &queue.Worker{
		Queue: st, Resolver: dns, Hostname: hostname(cfg), Logger: log,
		Bouncer:         &queue.StoreBouncer{Directory: st, Store: st, Local: localRecipients{local}},
		Routes:          routes,
		RequireTLS:      map[string]bool{},
		RemotePort:      q.RemotePort,
		Workers:         q.Workers,
		PerDomain:       q.PerDomain,
		MaxConnMessages: q.ConnectionMessages,
		ConnIdle:        q.ConnectionIdle.D(),
		Lifetime:        q.Lifetime.D(),
		RetryBase:       q.RetryBase.D(),
		RetryMax:        q.RetryMax.D(),
		AttemptTimeout:  q.AttemptTimeout.D(),
		PollInterval:    q.PollInterval.D(),
	}
	if signer != nil { // a nil *msgauth.Signer must not become a non-nil interface
		w.Signer = signer
	}
	for _, d := range strings.Split(q.RequireTLS, ",") {
		if d = strings.ToLower(strings.TrimSpace(d)); d != "" {
			w.RequireTLS[d] = true
		}
	}
	if w.RootCAs, err = caFile(cfg, "queue.tls_ca_file", q.TLSCAFile); err != nil {
		return nil, err
	}
	if q.Smarthost != "" {
		hop, err := queue.ParseHop(q.Smarthost, 587)
		if err != nil {
			return nil, keyErr("queue.smarthost", err)
		}
		w.Smarthost = &queue.Smarthost{Hop: hop, User: q.SmarthostUser}
		if q.SmarthostPasswordFile != "" {
			b, err := os.ReadFile(cfg.Path(q.SmarthostPasswordFile))
			if err != nil {
				return nil, keyErr("queue.smarthost_password_file", err)
			}
			w.Smarthost.Password, _, _ = strings.Cut(strings.TrimRight(string(b), "\r\n"), "\n")
		}
	}
	if q.MTASTS {
		fetcher := &mtasts.Fetcher{Resolver: dns, RootCAs: w.RootCAs, Logger: log}
		w.MTASTS = fetcher
		if q.TLSReports {
			w.TLSReports = &tlsrpt.Recorder{}
			fetcher.FetchFailed = w.TLSReports.FetchFailed
		}
	}
	return w, nil
}

// newTLSReporter sends the daily TLS reports of the worker's sessions
// (queue.tls_reports) through st, onto the queue; nil when off.
func newTLSReporter(cfg *config.Config, w *queue.Worker, st store.Deliverer, dns resolver.Resolver, log *slog.Logger) *tlsrpt.Reporter {
	if w.TLSReports == nil {
		return nil
	}
	rp := &tlsrpt.Reporter{Recorder: w.TLSReports, Resolver: dns, Store: st,
		Submitter: hostname(cfg), From: "tlsrpt-noreply@" + hostname(cfg), Logger: log,
		Path: filepath.Join(cfg.Dir, tlsReportCounts)}
	if err := rp.Recorder.Load(rp.Path); err != nil {
		// Counts are a diagnostic aid: start afresh rather than not at all.
		log.Warn("tlsrpt: saved counts not loaded", "err", err)
	}
	return rp
}

// tlsReportCounts is the file in the data directory that keeps the TLS
// report counts across restarts.
const tlsReportCounts = "tlsrpt-counts.json"

// localRecipients resolves local bounce recipients through aliases, the
// way SMTP resolves them.
type localRecipients struct{ r *delivery.Resolver }

func (l localRecipients) Resolve(ctx context.Context, address string) ([]store.Account, error) {
	res, err := l.r.Resolve(ctx, address)
	if errors.Is(err, delivery.ErrUnknownUser) || errors.Is(err, delivery.ErrNotLocal) ||
		errors.Is(err, delivery.ErrBadAddress) || errors.Is(err, delivery.ErrAliasLoop) {
		return nil, fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	if err == nil && len(res.Accounts) == 0 {
		return nil, fmt.Errorf("bounce to %s: %w", address, store.ErrNotFound)
	}
	return res.Accounts, err
}

// kickingStore wakes the queue worker when a delivery queued mail, so a
// submission leaves at once instead of at the next poll.
// It also counts the message and its commit time.
type kickingStore struct {
	store.Deliverer
	kick    func()
	metrics *metrics.Metrics
}

func (k kickingStore) Deliver(ctx context.Context, d store.Delivery) error {
	start := time.Now()
	err := k.Deliverer.Deliver(ctx, d)
	if err == nil {
		k.metrics.Received("smtp", time.Since(start))
	}
	if err == nil && d.Outbound != nil {
		k.kick()
	}
	return err
}

func (k kickingStore) DeliverBatch(ctx context.Context, ds []store.Delivery) []error {
	start := time.Now()
	errs := k.Deliverer.DeliverBatch(ctx, ds)
	kick := false
	for i, err := range errs {
		if err == nil {
			k.metrics.Received("smtp", time.Since(start))
			kick = kick || ds[i].Outbound != nil
		}
	}
	if kick {
		k.kick()
	}
	return errs
}

// caFile returns the system roots plus the PEM certificates of the file
// that configuration key names, or nil when path is "".
func caFile(cfg *config.Config, key, path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	keyErr := func(err error) error {
		return withCode(exitConfig, &config.KeyError{Key: key, Err: err})
	}
	pem, err := os.ReadFile(cfg.Path(path))
	if err != nil {
		return nil, keyErr(err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, keyErr(errors.New("no PEM certificate in the file"))
	}
	return roots, nil
}
