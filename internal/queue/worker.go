// Package queue delivers the outbound queue: workers claim due messages
// from the store, group their recipients by domain, find the receiving
// hosts (smarthost, static route or MX), send over SMTP with STARTTLS when
// offered, record each recipient's outcome durably, retry temporary
// failures with exponential backoff and bounce permanent ones with a DSN.
//
// A message leaves the queue only when no recipient is pending, and a
// recipient is recorded as delivered only after the remote server's 250;
// a crash between the two sends it again (a duplicate, never a loss).
package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/tlsrpt"
)

// Defaults for the zero values of Worker's fields.
const (
	DefaultWorkers        = 64
	DefaultPerDomain      = 20                 // Postfix's default_destination_concurrency_limit
	DefaultLifetime       = 5 * 24 * time.Hour // RFC 5321 4.5.4.1: "at least 4-5 days"
	DefaultRetryBase      = 5 * time.Minute
	DefaultRetryMax       = 4 * time.Hour
	DefaultAttemptTimeout = 15 * time.Minute
	DefaultPollInterval   = 2 * time.Second
	DefaultCommandTimeout = 5 * time.Minute // RFC 5321 4.5.3.2
	DefaultConnectTimeout = 30 * time.Second
	// A session to a next hop carries at most this many messages, and
	// is closed after this long without one (Postfix: unlimited reuse
	// count, 2 s cache time, 300 s reuse time).
	DefaultMaxConnMessages = 100
	DefaultConnIdle        = 5 * time.Second
	// tlsSessionCacheSize bounds the TLS sessions kept for resumption
	// (one per next hop name or address).
	tlsSessionCacheSize = 1024
)

// Signer adds DKIM signatures. Sign reads the whole message (CRLF) and
// returns the header fields to prepend, CRLF-terminated, or "" when no key
// covers the message. internal/msgauth implements it.
type Signer interface {
	Sign(ctx context.Context, message io.Reader) (string, error)
}

// Bouncer delivers a delivery status notification to the sender of a
// failed message, with the null reverse-path: into a local mailbox or
// onto the queue.
type Bouncer interface {
	Bounce(ctx context.Context, rcpt string, message []byte) error
}

// Smarthost relays every remote message through one upstream server,
// always over TLS (implicit on port 465, else STARTTLS), with its
// certificate verified, authenticating when User is set.
type Smarthost struct {
	Hop            Hop
	User, Password string
}

// Worker delivers the queue. Fields are read-only once Run starts; zero
// values are the defaults above.
type Worker struct {
	Queue    store.Queue
	Resolver resolver.Resolver
	Bouncer  Bouncer
	Signer   Signer // nil: messages go unsigned
	Hostname string // EHLO name and DSN Reporting-MTA
	Logger   *slog.Logger
	Now      func() time.Time

	// Routes send a domain's mail to a fixed hop instead of its MX;
	// Smarthost (when not nil) takes all remote mail.
	Routes    map[string]Hop
	Smarthost *Smarthost
	// RequireTLS lists domains whose mail must go over STARTTLS with a
	// verified certificate; elsewhere TLS is opportunistic (RFC 7435)
	// and unverified, the way MX hosts are usually reached.
	RequireTLS map[string]bool
	RootCAs    *x509.CertPool // for verified TLS; nil = the system's
	// MTASTS, when set, enforces remote domains' MTA-STS policies
	// (RFC 8461) for mail sent to their MX hosts.
	MTASTS STSPolicies
	// TLSReports, when set, counts the TLS sessions with domains that
	// have an MTA-STS policy, for their TLS-RPT reports (RFC 8460).
	TLSReports *tlsrpt.Recorder
	// Observer, when set, is told the outcome of every recipient's
	// attempt: "delivered", "deferred" or "bounced" (metrics).
	Observer   interface{ DeliveryAttempt(result string) }
	RemotePort int // port of MX hosts; 0 = 25

	Workers        int // messages delivered at once
	PerDomain      int // connections to one domain at once
	Lifetime       time.Duration
	RetryBase      time.Duration // first retry delay; doubles per attempt
	RetryMax       time.Duration
	AttemptTimeout time.Duration // one attempt's bound, also its queue lease
	PollInterval   time.Duration
	CommandTimeout time.Duration
	ConnectTimeout time.Duration
	// Sessions are reused for the next message to the same next hop
	// (pool.go): MaxConnMessages per session, closed after ConnIdle idle.
	MaxConnMessages int
	ConnIdle        time.Duration

	once        sync.Once
	kick        chan struct{}
	freed       chan struct{}
	limiter     domainLimiter
	pool        pool
	tlsSessions tls.ClientSessionCache
	active      atomic.Int64
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.kick = make(chan struct{}, 1)
		w.freed = make(chan struct{}, 1)
		w.limiter.limit = or(w.PerDomain, DefaultPerDomain)
		w.pool = pool{
			perKey: or(w.PerDomain, DefaultPerDomain), total: max(or(w.Workers, DefaultWorkers), or(w.PerDomain, DefaultPerDomain)),
			idleTime: or(w.ConnIdle, DefaultConnIdle), maxMessages: or(w.MaxConnMessages, DefaultMaxConnMessages),
		}
		w.tlsSessions = tls.NewLRUClientSessionCache(tlsSessionCacheSize)
	})
}

// Kick wakes the worker to look at the queue now (after a submission
// queued mail) rather than at its next poll.
func (w *Worker) Kick() {
	w.init()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends; deliveries in flight are then cut short
// and made due again at once, so the next start resumes them.
//
// Claims come in batches: a claim is a write transaction (an fsync), and
// claiming one message each time one finishes would cost one per
// message. A freed slot leads to a claim once a quarter of the workers
// (at most 16) are free, or claimLinger after the first of them was
// freed, whichever comes first; a kick (new mail) or the poll claims for
// any free slot.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	w.pool.open()
	defer w.pool.close() // after the deliveries below have ended
	var wg sync.WaitGroup
	defer wg.Wait()
	workers := or(w.Workers, DefaultWorkers)
	batch := max(1, min(16, workers/4))
	poll := time.NewTicker(or(w.PollInterval, DefaultPollInterval))
	defer poll.Stop()
	linger := time.NewTimer(claimLinger)
	linger.Stop()
	lingering := false
	for claimAny := true; ; {
		if free := workers - int(w.active.Load()); free > 0 && (claimAny || free >= batch) {
			if lingering {
				linger.Stop()
				lingering = false
			}
			now := w.now()
			msgs, err := w.Queue.ClaimQueued(ctx, now, now.Add(w.lease()), free)
			if err != nil && ctx.Err() == nil {
				w.log().Error("claiming queued messages failed", "err", err)
			}
			for _, m := range msgs {
				w.active.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer w.slotFreed()
					defer w.active.Add(-1)
					w.attempt(ctx, m)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
			claimAny = true
		case <-poll.C:
			claimAny = true
		case <-w.freed:
			claimAny = false
			if !lingering {
				linger.Reset(claimLinger)
				lingering = true
			}
		case <-linger.C:
			claimAny, lingering = true, false
		}
	}
}

// claimLinger is how long a freed slot waits for others before Run
// claims for it alone: long enough for a busy queue to free a batch's
// worth, short next to any delivery.
const claimLinger = 20 * time.Millisecond

// slotFreed tells Run a delivery ended: more may be due.
func (w *Worker) slotFreed() {
	select {
	case w.freed <- struct{}{}:
	default:
	}
}

// lease is how long a claimed message stays ours: the attempt's bound
// plus a margin for recording its outcome.
func (w *Worker) lease() time.Duration {
	t := or(w.AttemptTimeout, DefaultAttemptTimeout)
	return t + t/4
}

func (w *Worker) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func (w *Worker) log() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// backoff is the delay before attempt n+1 after n failed ones:
// RetryBase doubled per attempt, at most RetryMax, less a random quarter
// of it, so messages that failed together (a destination down, a burst
// of 421s) do not all come back in the same second.
func (w *Worker) backoff(attempts int) time.Duration {
	d, limit := or(w.RetryBase, DefaultRetryBase), or(w.RetryMax, DefaultRetryMax)
	for i := 0; i < attempts && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - rand.N(d/4+1)
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
