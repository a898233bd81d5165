package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// QueueStore is what the queue operations need.
type QueueStore interface {
	store.Queue
}

// Queue holds the outbound-queue operations; they work while serve runs.
type Queue struct {
	Store QueueStore
}

func queuedMissing(id int64) error { return errorf(NotFound, "queued message %d does not exist", id) }

// Messages lists the queue, oldest first.
func (q *Queue) Messages(ctx context.Context) ([]store.QueuedMessage, error) {
	ms, err := q.Store.QueuedMessages(ctx)
	return ms, wrap("listing the queue", err)
}

// Message returns one queued message and opens its body; the caller
// closes the body.
func (q *Queue) Message(ctx context.Context, id int64) (store.QueuedMessage, io.ReadCloser, error) {
	m, err := q.Store.QueuedMessage(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil, queuedMissing(id)
	}
	if err != nil {
		return m, nil, wrap(fmt.Sprintf("reading queued message %d", id), err)
	}
	body, err := q.Store.QueuedBody(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return m, nil, queuedMissing(id) // delivered meanwhile
	}
	return m, body, wrap(fmt.Sprintf("reading queued message %d", id), err)
}

// Retry makes messages due now; none given means every queued message
// (those delivered meanwhile are skipped).
func (q *Queue) Retry(ctx context.Context, ids ...int64) error {
	all := len(ids) == 0
	if all {
		ms, err := q.Messages(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
	}
	for _, id := range ids {
		err := q.Store.RetryQueued(ctx, id, time.Now())
		switch {
		case errors.Is(err, store.ErrNotFound) && all:
		case errors.Is(err, store.ErrNotFound):
			return queuedMissing(id)
		case err != nil:
			return wrap(fmt.Sprintf("retrying queued message %d", id), err)
		}
	}
	return nil
}

// Drop removes a message from the queue without a bounce: dropping is the
// operator's decision, not a delivery failure.
func (q *Queue) Drop(ctx context.Context, id int64) error {
	err := q.Store.DeleteQueued(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return queuedMissing(id)
	}
	return wrap(fmt.Sprintf("dropping queued message %d", id), err)
}
