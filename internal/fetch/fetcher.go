// Package fetch is Pochta's built-in fetcher: it brings the mail of remote
// POP3 and IMAP accounts (store.FetchSource) into local accounts, as
// `pochta serve` runs and on `pochta fetch run`.
//
// Never lose mail, never store it twice:
//   - Every message goes through internal/delivery, the path SMTP uses,
//     with its remote id (POP3 UIDL, IMAP UIDVALIDITY/UID) recorded in the
//     delivery's own transaction (store.FetchMark). A message is stored if
//     and only if its id is recorded, whatever crashes when. Messages are
//     stored in batches, one transaction each, in the source's order
//     (batch.go).
//   - A message is deleted on the source (when the source says so) only
//     after that transaction is durable: DELE then QUIT for POP3, STORE
//     \Deleted then EXPUNGE for IMAP. A crash in between leaves it on the
//     source, recorded here; the next run deletes it without fetching it.
//   - A message that cannot be fetched for good (larger than the limit)
//     is recorded as skipped and left on the source, and the run says so.
package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// Deliverer stores messages; *delivery.Deliverer is the one to use.
type Deliverer interface {
	Deliver(ctx context.Context, m delivery.Message) error
	// DeliverBatch stores several in one transaction, in their order.
	DeliverBatch(ctx context.Context, ms []delivery.Message) []error
}

// Metrics is what the fetcher reports; *metrics.Metrics implements it.
type Metrics interface {
	// Received counts a message stored, by source ("fetch"), with the
	// time its commit took.
	Received(source string, commit time.Duration)
	// FetchRun counts a run by protocol (pop3, pop3s, imap, imaps) and
	// result (ok, failed).
	FetchRun(proto, result string)
}

// Defaults of the zero Fetcher.
const (
	DefaultInterval = 5 * time.Minute
	// MinInterval is the shortest poll interval a source may ask for: a
	// provider would rightly take more as abuse.
	MinInterval       = time.Minute
	defaultTimeout    = time.Minute
	defaultMaxBackoff = time.Hour
	defaultReload     = 30 * time.Second
	defaultMaxSize    = 64 << 20
)

// Fetcher fetches mail from the sources in Store. The zero value of every
// optional field is a sane default.
type Fetcher struct {
	Store     store.FetchSources
	Deliverer Deliverer
	Logger    *slog.Logger
	Metrics   Metrics // may be nil
	// TLSConfig is the base TLS configuration (RootCAs); nil means the
	// system roots. Certificates are always verified against the host.
	TLSConfig *tls.Config
	// Dial opens connections; nil is a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Hostname names this server in the Received field of fetched mail.
	Hostname string
	// Interval is the poll interval of sources that set none.
	Interval time.Duration
	// MaxMessageSize is the largest message fetched; larger ones are
	// skipped (left on the source, and reported).
	MaxMessageSize int64
	// Timeout bounds each network step (connect, one response, progress
	// while reading a message).
	Timeout time.Duration
	// MaxBackoff bounds the wait after failed runs (which doubles from
	// the interval on each failure).
	MaxBackoff time.Duration
	// Reload is how often Run re-reads the source list (sources added or
	// removed by `pochta fetch` in another process).
	Reload time.Duration
	// NoIdle disables IMAP IDLE: sources are polled on their interval.
	NoIdle bool
	// Secrets opens sealed source passwords; nil leaves only unsealed
	// ones usable.
	Secrets *Secrets
	// MinInterval replaces the package's MinInterval as the floor of
	// intervals (tests lower it; pochta fetch add refuses intervals below
	// the package's).
	MinInterval time.Duration
}

// Result is what one run did.
type Result struct {
	Fetched int // messages stored here
	Skipped int // messages left on the source for good (too large)
	Deleted int // messages deleted on the source
}

func (f *Fetcher) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

func (f *Fetcher) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return defaultTimeout
}

func (f *Fetcher) maxSize() int64 {
	if f.MaxMessageSize > 0 {
		return f.MaxMessageSize
	}
	return defaultMaxSize
}

// interval is how long a source waits between good runs.
func (f *Fetcher) interval(src store.FetchSource) time.Duration {
	d := src.Interval
	if d == 0 {
		d = f.Interval
	}
	if d == 0 {
		d = DefaultInterval
	}
	floor := f.MinInterval
	if floor <= 0 {
		floor = MinInterval
	}
	return max(d, floor)
}

// backoff is how long a source waits after its failures-th failed run
// in a row: the interval doubled per failure, up to MaxBackoff.
func (f *Fetcher) backoff(src store.FetchSource, failures int) time.Duration {
	limit := f.MaxBackoff
	if limit <= 0 {
		limit = defaultMaxBackoff
	}
	d := f.interval(src)
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// RunOnce runs a source once (no IDLE), records the outcome in the store
// and returns it.
func (f *Fetcher) RunOnce(ctx context.Context, src store.FetchSource) (Result, error) {
	res, err := f.run(ctx, src, nil)
	f.record(src, res, err)
	return res, err
}

// record stores a run's outcome, counts and logs it.
func (f *Fetcher) record(src store.FetchSource, res Result, err error) {
	run := store.FetchRun{At: time.Now(), Fetched: res.Fetched}
	result := "ok"
	if err != nil {
		run.Error, result = err.Error(), "failed"
	}
	log := f.log().With("source", src.ID, "account", src.Account, "url", src.URL)
	// Recorded even when the run's context ended: the outcome is known.
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout())
	defer cancel()
	if rerr := f.Store.RecordFetchRun(ctx, src.ID, run); rerr != nil && !errors.Is(rerr, store.ErrNotFound) {
		log.Error("recording the fetch run", "err", rerr)
	}
	proto := "unknown"
	if spec, perr := ParseURL(src.URL); perr == nil {
		proto = spec.ProtoName()
	}
	if f.Metrics != nil {
		f.Metrics.FetchRun(proto, result)
	}
	// Logged last: a run in the log is in the store and the metrics.
	if err != nil {
		log.Warn("fetch failed", "err", err, "fetched", res.Fetched)
	} else if res.Fetched > 0 || res.Skipped > 0 || res.Deleted > 0 {
		log.Info("fetched", "fetched", res.Fetched, "skipped", res.Skipped, "deleted", res.Deleted)
	}
}

// run runs a source once. With onPass not nil an IMAP source that offers
// IDLE stays connected: after each pass it waits for new mail (or the
// interval), calls onPass and runs again, until an error or ctx ends.
func (f *Fetcher) run(ctx context.Context, src store.FetchSource, onPass func(Result)) (Result, error) {
	spec, err := ParseURL(src.URL)
	if err != nil {
		return Result{}, err
	}
	password, err := f.Secrets.openPassword(src.Password)
	if err != nil {
		return Result{}, err
	}
	j := &job{f: f, src: src, spec: spec, password: password,
		log: f.log().With("source", src.ID, "account", src.Account)}
	switch spec.Proto {
	case POP3:
		return j.pop3(ctx)
	default:
		return j.imap(ctx, onPass)
	}
}

// job is one run of one source.
type job struct {
	f    *Fetcher
	src  store.FetchSource
	spec Spec
	// password is the source's, opened.
	password string
	log      *slog.Logger
	remote   netip.Addr
	tls      *tls.ConnectionState
	res      Result
	// batch is what was fetched and waits for its commit (see flush).
	batch       []queued
	batchOctets int
}

// dial connects to the source; with implicit TLS it also does the
// handshake.
func (j *job) dial(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, j.f.timeout())
	defer cancel()
	dial := j.f.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", j.spec.Addr)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", j.spec.Addr, err)
	}
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		j.remote = ap.Addr().Unmap()
	}
	if j.spec.TLS != TLSImplicit {
		return conn, nil
	}
	tc := tls.Client(conn, j.tlsConfig())
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", j.spec.Addr, err)
	}
	return tc, nil
}

// tlsConfig verifies the server's certificate for the host of the URL,
// and notes the connection's TLS state for the Received field.
func (j *job) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if j.f.TLSConfig != nil {
		cfg = j.f.TLSConfig.Clone()
	}
	cfg.ServerName = j.spec.Host
	cfg.InsecureSkipVerify = false
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		j.tls = &cs // after the certificate was verified
		return nil
	}
	return cfg
}

// skippedScope is where the ids of skipped messages of a scope are
// recorded: apart from the fetched ones, which a deleting source deletes.
func skippedScope(scope string) string { return "skipped/" + scope }

// skip records a message left on the source for good (logged once, when
// first skipped).
func (j *job) skip(ctx context.Context, id store.FetchedID, size int64) error {
	j.log.Warn("message larger than the limit left on the source", "remote_id", id.ID, "scope", id.Scope,
		"size", size, "limit", j.f.maxSize())
	j.res.Skipped++
	id.Scope = skippedScope(id.Scope)
	return j.f.Store.AddFetchedIDs(ctx, j.src.ID, []store.FetchedID{id})
}

// known is the recorded ids of a scope, fetched and skipped, as sets;
// prune forgets those no longer on the source.
type known struct {
	scope            string
	fetched, skipped map[string]store.FetchedID
}

func (j *job) known(ctx context.Context, scope string) (*known, error) {
	k := &known{scope: scope, fetched: map[string]store.FetchedID{}, skipped: map[string]store.FetchedID{}}
	for _, set := range []struct {
		scope string
		m     map[string]store.FetchedID
	}{{scope, k.fetched}, {skippedScope(scope), k.skipped}} {
		ids, err := j.f.Store.FetchedIDs(ctx, j.src.ID, set.scope)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			set.m[id.ID] = id
		}
	}
	return k, nil
}

// prune forgets the recorded ids that are not in present (messages gone
// from the source: their ids are never used again there).
func (j *job) prune(ctx context.Context, k *known, present map[string]bool) error {
	for scope, m := range map[string]map[string]store.FetchedID{k.scope: k.fetched, skippedScope(k.scope): k.skipped} {
		var gone []string
		for id := range m {
			if !present[id] {
				gone = append(gone, id)
			}
		}
		if err := j.f.Store.ForgetFetchedIDs(ctx, j.src.ID, scope, gone); err != nil {
			return err
		}
	}
	return nil
}

// errTooLarge fails a delivery whose body turns out larger than the
// limit (the size the server announced was wrong): nothing is stored.
var errTooLarge = errors.New("message larger than the limit")

// sizeLimit reads at most n octets of r, and fails with errTooLarge when
// r has more.
type sizeLimit struct {
	r io.Reader
	n int64
}

func (l *sizeLimit) Read(p []byte) (int, error) {
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errTooLarge
	}
	return n, err
}
