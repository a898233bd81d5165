// Package metrics is Pochta's Prometheus instrumentation: one Metrics value
// per process, created by `pochta serve` and handed to the packages that
// record into it. Every method is safe on a nil *Metrics (it records
// nothing), so a package can hold a nil pointer in tests and tools.
//
// Label values are always from small fixed sets (listener names, protocol
// and command names from a server's own table, result words): never a
// client-supplied string, so a client cannot grow the series count.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every Pochta metric and the registry that exports them.
type Metrics struct {
	reg *prometheus.Registry

	conns       *prometheus.CounterVec
	active      *prometheus.GaugeVec
	refused     *prometheus.CounterVec
	sessionTime *prometheus.HistogramVec
	panics      *prometheus.CounterVec
	logins      *prometheus.CounterVec
	commands    *prometheus.HistogramVec
	bytesSent   *prometheus.CounterVec
	stored      *prometheus.CounterVec
	attempts    *prometheus.CounterVec
	authResults *prometheus.CounterVec
	storeCommit prometheus.Histogram
	throttle    prometheus.Histogram
	fetchRuns   *prometheus.CounterVec

	mu    sync.Mutex
	queue QueueStatsFunc
}

// QueueStatsFunc reports the outbound queue's depth and the arrival time
// of its oldest message (zero when empty).
type QueueStatsFunc func(ctx context.Context) (depth int, oldest time.Time, err error)

// latency buckets: 0.5ms to 32s, ×4.
var latency = prometheus.ExponentialBuckets(0.0005, 4, 9)

// New creates the metrics and registers them with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.conns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_connections_total", Help: "Connections accepted and admitted, per listener.",
	}, []string{"listener"})
	m.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "pochta_connections_active", Help: "Connections being served, per listener.",
	}, []string{"listener"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_connections_refused_total", Help: "Connections refused by a connection limit, per listener.",
	}, []string{"listener"})
	m.sessionTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pochta_session_duration_seconds", Help: "How long connections (sessions) lasted, per listener.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
	}, []string{"listener"})
	m.panics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_panics_total", Help: "Panics recovered while serving a connection (each one is a bug).",
	}, []string{"listener"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_logins_total", Help: "Login attempts by protocol, mechanism and result (ok, failed).",
	}, []string{"proto", "mechanism", "result"})
	m.commands = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "pochta_command_duration_seconds", Help: "Commands by protocol and name, with their latency.",
		Buckets: latency,
	}, []string{"proto", "command"})
	m.bytesSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_bytes_sent_total", Help: "Bytes written to clients, per protocol.",
	}, []string{"proto"})
	m.stored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_messages_received_total", Help: "Messages committed to local mailboxes or the outbound queue, by source (smtp, submission, deliver).",
	}, []string{"source"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_delivery_attempts_total", Help: "Outbound delivery attempts per recipient domain, by result (delivered, deferred, bounced).",
	}, []string{"result"})
	m.authResults = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_message_auth_results_total", Help: "SPF, DKIM and DMARC results of inbound mail (RFC 8601 result words).",
	}, []string{"method", "result"})
	m.storeCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "pochta_store_commit_duration_seconds", Help: "Time to commit one delivery durably (body written and synced, metadata committed).",
		Buckets: latency,
	})
	m.throttle = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "pochta_auth_throttle_delay_seconds", Help: "Delay imposed on each failed login by the throttle (0 for the first few).",
		Buckets: latency,
	})
	m.fetchRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "pochta_fetch_runs_total", Help: "Runs of fetch sources by protocol (pop3, pop3s, imap, imaps) and result (ok, failed); the messages they stored count in pochta_messages_received_total{source=\"fetch\"}.",
	}, []string{"proto", "result"})
	m.reg.MustRegister(m.fetchRuns, m.conns, m.active, m.refused, m.sessionTime, m.panics, m.logins, m.commands,
		m.bytesSent, m.stored, m.attempts, m.authResults, m.storeCommit, m.throttle,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		queueCollector{m})
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second})
}

// SetQueueStats installs the function reporting the queue gauges; it is
// called at every scrape.
func (m *Metrics) SetQueueStats(f QueueStatsFunc) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.queue = f
	m.mu.Unlock()
}

// ConnOpened, ConnClosed, ConnRefused and Panicked implement
// server.Observer.
func (m *Metrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	m.conns.WithLabelValues(listener).Inc()
	m.active.WithLabelValues(listener).Inc()
}

func (m *Metrics) ConnClosed(listener string, d time.Duration) {
	if m == nil {
		return
	}
	m.active.WithLabelValues(listener).Dec()
	m.sessionTime.WithLabelValues(listener).Observe(d.Seconds())
}

func (m *Metrics) ConnRefused(listener string) {
	if m != nil {
		m.refused.WithLabelValues(listener).Inc()
	}
}

func (m *Metrics) Panicked(listener string) {
	if m != nil {
		m.panics.WithLabelValues(listener).Inc()
	}
}

// Login records one authentication attempt; ok is its outcome.
func (m *Metrics) Login(proto, mechanism string, ok bool) {
	if m == nil {
		return
	}
	result := "failed"
	if ok {
		result = "ok"
	}
	m.logins.WithLabelValues(proto, mechanism, result).Inc()
}

// Command records one command and how long it took. name must come from
// the server's command table (unknown commands as "unknown").
func (m *Metrics) Command(proto, name string, d time.Duration) {
	if m != nil {
		m.commands.WithLabelValues(proto, name).Observe(d.Seconds())
	}
}

// BytesSent adds n bytes written to a client of proto.
func (m *Metrics) BytesSent(proto string, n int64) {
	if m != nil && n > 0 {
		m.bytesSent.WithLabelValues(proto).Add(float64(n))
	}
}

// Received records a message committed durably, and the commit's time.
func (m *Metrics) Received(source string, commit time.Duration) {
	if m == nil {
		return
	}
	m.stored.WithLabelValues(source).Inc()
	m.storeCommit.Observe(commit.Seconds())
}

// FetchRun records one run of a fetch source.
func (m *Metrics) FetchRun(proto, result string) {
	if m != nil {
		m.fetchRuns.WithLabelValues(proto, result).Inc()
	}
}

// DeliveryAttempt records one outbound attempt: "delivered", "deferred"
// or "bounced".
func (m *Metrics) DeliveryAttempt(result string) {
	if m != nil {
		m.attempts.WithLabelValues(result).Inc()
	}
}

// AuthResult records one SPF, DKIM or DMARC result ("pass", "fail",
// "none"...).
func (m *Metrics) AuthResult(method, result string) {
	if m != nil {
		m.authResults.WithLabelValues(method, result).Inc()
	}
}

// ThrottleDelay records the delay imposed on a failed login (0 when the
// throttle did not slow it).
func (m *Metrics) ThrottleDelay(d time.Duration) {
	if m != nil {
		m.throttle.Observe(d.Seconds())
	}
}

var (
	queueDepthDesc  = prometheus.NewDesc("pochta_queue_messages", "Messages on the outbound queue.", nil, nil)
	queueOldestDesc = prometheus.NewDesc("pochta_queue_oldest_age_seconds", "Age of the oldest message on the outbound queue (0 when empty).", nil, nil)
)

// queueCollector asks the queue at scrape time, so the gauges are never
// stale and nothing polls between scrapes.
type queueCollector struct{ m *Metrics }

func (q queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- queueOldestDesc
}

func (q queueCollector) Collect(ch chan<- prometheus.Metric) {
	q.m.mu.Lock()
	f := q.m.queue
	q.m.mu.Unlock()
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	depth, oldest, err := f(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(queueDepthDesc, err)
		return
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(0, time.Since(oldest).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(queueOldestDesc, prometheus.GaugeValue, age)
}
