package queue

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// recordTimeout bounds the bookkeeping after an attempt. It runs on its
// own context: a 250 must be recorded even when the attempt's time (or
// the server's life) just ran out.
const recordTimeout = 30 * time.Second

// attempt tries every pending recipient of a claimed message once, then
// records the outcome: delete, bounce, or schedule the next attempt.
func (w *Worker) attempt(ctx context.Context, m store.QueuedMessage) {
	log := w.log().With("queue_id", m.ID)
	actx, cancel := context.WithTimeout(ctx, or(w.AttemptTimeout, DefaultAttemptTimeout))
	defer cancel()

	byDomain := map[string][]store.QueueRecipient{}
	var domains []string
	for _, r := range m.Envelope.Recipients {
		if r.Status != store.RecipientPending {
			continue
		}
		d := domainOf(r.Address)
		if byDomain[d] == nil {
			domains = append(domains, d)
		}
		byDomain[d] = append(byDomain[d], r)
	}
	signature := ""
	if len(domains) > 0 {
		signature = w.sign(actx, m, log)
	}
	var mu sync.Mutex
	var lastErr []string
	var wg sync.WaitGroup
	for _, d := range domains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes := w.deliverDomain(actx, m, d, byDomain[d], signature, log)
			// A message finished by this one group is deleted right
			// after: recording it first would cost a commit for nothing
			// (a crash in between resends either way).
			if !(len(domains) == 1 && len(outcomes) == len(m.Envelope.Recipients) && allDelivered(outcomes)) {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
				defer cancel()
				if err := w.Queue.RecordRecipients(rctx, m.ID, outcomes); err != nil {
					log.Error("recording delivery progress failed", "domain", d, "err", err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, o := range outcomes {
				w.observe(o.Status)
				setStatus(&m, o)
				if o.Status == store.RecipientPending {
					lastErr = append(lastErr, o.Reply)
				}
			}
		}()
	}
	wg.Wait()

	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer rcancel()
	w.finish(rctx, ctx.Err() != nil, m, strings.Join(dedupe(lastErr), "; "), log)
}

// finish bounces what failed and deletes the message when nothing is
// pending, or schedules the next attempt.
func (w *Worker) finish(ctx context.Context, stopping bool, m store.QueuedMessage, lastErr string, log *slog.Logger) {
	now := w.now()
	expires := m.Created.Add(or(w.Lifetime, DefaultLifetime))
	if !stopping && !now.Before(expires) {
		// RFC 5321 4.5.4.1: give up after the lifetime, with a bounce.
		for i, r := range m.Envelope.Recipients {
			if r.Status == store.RecipientPending {
				reply := "4.4.7 delivery time expired"
				if r.Reply != "" {
					reply += "; last error: " + r.Reply
				}
				m.Envelope.Recipients[i].Status, m.Envelope.Recipients[i].Reply = store.RecipientFailed, reply
			}
		}
	}
	if err := w.bounce(ctx, m, now, log); err != nil {
		// The failed recipients stay "failed": the next attempt bounces
		// them again.
		log.Error("delivering the bounce failed", "err", err)
		w.release(ctx, m, now.Add(w.backoff(m.Attempts)), "bounce: "+err.Error(), log)
		return
	}
	pending := 0
	for _, r := range m.Envelope.Recipients {
		if r.Status == store.RecipientPending {
			pending++
		}
	}
	if pending == 0 {
		if err := w.Queue.DeleteQueued(ctx, m.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Error("removing a finished message from the queue failed", "err", err)
			return
		}
		log.Info("queued message done", "attempts", m.Attempts+1)
		return
	}
	next := now.Add(w.backoff(m.Attempts))
	if stopping {
		next = now // cut short by shutdown: resume at the next start
	}
	if next.After(expires) {
		next = expires
	}
	w.release(ctx, m, next, lastErr, log)
	log.Info("delivery deferred", "pending", pending, "next_attempt", next.UTC().Format(time.RFC3339), "err", lastErr)
}

// observe reports one recipient's attempt to the Observer.
func (w *Worker) observe(s store.RecipientStatus) {
	if w.Observer == nil {
		return
	}
	switch s {
	case store.RecipientDelivered:
		w.Observer.DeliveryAttempt("delivered")
	case store.RecipientPending:
		w.Observer.DeliveryAttempt("deferred")
	default:
		w.Observer.DeliveryAttempt("bounced")
	}
}

func (w *Worker) release(ctx context.Context, m store.QueuedMessage, next time.Time, lastErr string, log *slog.Logger) {
	if err := w.Queue.ReleaseQueued(ctx, m.ID, store.QueueRelease{NextAttempt: next, LastError: lastErr}); err != nil {
		log.Error("rescheduling a queued message failed", "err", err)
	}
}

// sign computes the DKIM signature once per attempt. A signing failure
// sends the message unsigned rather than holding it.
func (w *Worker) sign(ctx context.Context, m store.QueuedMessage, log *slog.Logger) string {
	if w.Signer == nil {
		return ""
	}
	body, err := w.Queue.QueuedBody(ctx, m.ID)
	if err != nil {
		log.Warn("reading the message to sign failed", "err", err)
		return ""
	}
	defer body.Close()
	sig, err := w.Signer.Sign(ctx, body)
	if err != nil {
		log.Warn("DKIM signing failed; sending unsigned", "err", err)
		return ""
	}
	return sig
}

func allDelivered(rs []store.QueueRecipient) bool {
	for _, r := range rs {
		if r.Status != store.RecipientDelivered {
			return false
		}
	}
	return true
}

func setStatus(m *store.QueuedMessage, o store.QueueRecipient) {
	for i := range m.Envelope.Recipients {
		if m.Envelope.Recipients[i].Address == o.Address {
			m.Envelope.Recipients[i].Status, m.Envelope.Recipients[i].Reply = o.Status, o.Reply
		}
	}
}

func dedupe(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// wantsBounce applies the recipient's RFC 3461 NOTIFY: unset means
// FAILURE (and DELAY), NEVER or a list without FAILURE means no DSN.
func wantsBounce(r store.QueueRecipient) bool {
	if r.Notify == "" {
		return true
	}
	return strings.Contains(strings.ToUpper(r.Notify), "FAILURE")
}
