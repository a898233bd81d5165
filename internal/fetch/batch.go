package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/store"
)

// Fetched messages are stored in batches: read whole into memory, in the
// source's order, then delivered together (delivery.DeliverBatch), so one
// commit (one fsync) makes many of them durable and their UIDs here follow
// the source's order. Each message's id is recorded in that transaction,
// and a message is deleted on the source only after it. A message larger
// than bufferMax is not held in memory: the batch so far is stored, then
// the message streams into a commit of its own.
const (
	batchMessages = 100
	batchOctets   = 8 << 20
	bufferMax     = 1 << 20
)

// queued is a fetched message waiting for its batch's commit.
type queued struct {
	msg delivery.Message
	id  store.FetchedID
	// stored runs once the message is durable here (or was already, by
	// another run): it deletes it on the source, or notes it for that.
	stored func() error
}

// message is the delivery of one fetched message.
func (j *job) message(body io.Reader, id store.FetchedID, mailbox string, date time.Time) delivery.Message {
	trace := &delivery.Trace{
		Helo: j.spec.Host, RemoteIP: j.remote, TLS: j.tls, With: strings.ToUpper(j.spec.ProtoName()),
		ID: delivery.NewID(), For: j.src.Account, Time: time.Now(),
	}
	return delivery.Message{
		Local:   []store.Account{{ID: j.src.AccountID, Address: j.src.Account}},
		Trace:   trace,
		Mailbox: mailbox,
		Fetched: &store.FetchMark{SourceID: j.src.ID, FetchedID: id},
		Body:    body,
		Date:    date,
	}
}

// take reads a message and stores it: in the batch when it is at most
// bufferMax octets, whatever size the server announced; else what was read
// and the rest stream into a commit of their own (one larger than the size
// limit fails with errTooLarge). So the batch holds at most batchOctets
// plus one bufferMax message. stored runs once the message is durable here
// (now or by another run).
func (j *job) take(ctx context.Context, body io.Reader, id store.FetchedID, mailbox string, date time.Time, stored func() error) error {
	body = &sizeLimit{r: body, n: j.f.maxSize()}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, body, bufferMax+1); err == io.EOF {
		return j.queue(ctx, buf.Bytes(), id, mailbox, date, stored)
	} else if err != nil {
		return err
	}
	if _, err := j.deliver(ctx, io.MultiReader(&buf, body), id, mailbox, date); err != nil {
		return err
	}
	return stored()
}

// queue adds a message read whole to the batch, and stores the batch when
// it is full.
func (j *job) queue(ctx context.Context, body []byte, id store.FetchedID, mailbox string, date time.Time, stored func() error) error {
	j.batch = append(j.batch, queued{msg: j.message(bytes.NewReader(body), id, mailbox, date), id: id, stored: stored})
	j.batchOctets += len(body)
	if len(j.batch) >= batchMessages || j.batchOctets >= batchOctets {
		return j.flush(ctx)
	}
	return nil
}

// flush stores the batch in one transaction, then runs each stored
// message's stored. It returns the first error: a message not stored, or
// a stored that failed. When ctx ended, the batch is dropped: its messages
// are neither stored nor deleted there, and the next run fetches them.
func (j *job) flush(ctx context.Context) error {
	batch := j.batch
	j.batch, j.batchOctets = j.batch[:0], 0
	if len(batch) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ms := make([]delivery.Message, len(batch))
	for i, q := range batch {
		ms[i] = q.msg
	}
	start := time.Now()
	errs := j.f.Deliverer.DeliverBatch(ctx, ms)
	commit := time.Since(start)
	var first error
	for i, q := range batch {
		err := errs[i]
		switch {
		case errors.Is(err, store.ErrExists): // another run stored it first
		case err != nil:
			if first == nil {
				first = fmt.Errorf("storing message %s: %w", q.id.ID, err)
			}
			continue
		default:
			j.stored(q.msg, commit)
		}
		if first == nil {
			first = q.stored()
		}
	}
	return first
}

// stored counts a message stored here.
func (j *job) stored(m delivery.Message, commit time.Duration) {
	j.res.Fetched++
	if j.f.Metrics != nil {
		j.f.Metrics.Received("fetch", commit)
	}
	j.log.Debug("fetched message", "remote_id", m.Fetched.ID, "scope", m.Fetched.Scope, "trace_id", m.Trace.ID)
}

// deliver stores one fetched message in a commit of its own, streaming
// (one larger than bufferMax), after the batch so far. It reports stored
// false (and no error) for a message another run stored first.
func (j *job) deliver(ctx context.Context, body io.Reader, id store.FetchedID, mailbox string, date time.Time) (bool, error) {
	if err := j.flush(ctx); err != nil {
		return false, err
	}
	start := time.Now()
	m := j.message(body, id, mailbox, date)
	err := j.f.Deliverer.Deliver(ctx, m)
	if errors.Is(err, store.ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("storing message %s: %w", id.ID, err)
	}
	j.stored(m, time.Since(start))
	return true, nil
}
