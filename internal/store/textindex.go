package store

import (
	"context"
	"log/slog"
	"time"
)

// TextSearcher is what an engine with a full-text index offers IMAP
// SEARCH: a candidate filter for the string keys BODY, TEXT and HEADER.
// The index holds each message's message.IndexTerms; the terms of a
// search string are message.QueryTerms. A candidate need not match (the
// caller reads it to decide); a message that matches is always a
// candidate.
//
// A message is stored unindexed (the delivery, APPEND, import or fetch
// that stores it computes and writes no terms, so its transaction costs
// what it cost without the index) and indexed after its commit by
// IndexText: an engine opened with its background indexer (a
// TextIndexer) calls it when messages arrive and at start, so a crash
// between the commit and the indexing only delays the indexing. A copy
// shares its original's state; a removal drops what no row needs.
// Searches are exact at every moment, as an unindexed message is always
// a candidate.
//
// Both engines implement it (storetest checks the contract); callers
// find it by interface upgrade from Mailboxes, so a store without an
// index still answers every search by reading the messages.
type TextSearcher interface {
	// TextCandidates returns, ascending, the UIDs of the mailbox's
	// messages that may contain text whose terms are terms (not empty):
	// those whose index terms include every one of them, and those that
	// are not indexed (not reached by IndexText yet, or with more than
	// message.MaxTerms terms).
	TextCandidates(ctx context.Context, mailboxID int64, terms []uint32) ([]uint32, error)
	// IndexText indexes up to limit of the messages that are not indexed
	// yet and returns how many it took; fewer than limit (0 at the end)
	// means none was left. It is safe to run in several processes (or
	// nodes) at once. Searches are correct before, during and after.
	IndexText(ctx context.Context, limit int) (int, error)
}

// TextIndexTries bounds how often IndexText reads a body that fails for
// a passing reason (an I/O or database error; a body lost for good, or
// with more than message.MaxTerms terms, is not indexable at once): the
// next tries wait TextIndexRetryDelay, then twice as long each time, and
// after the last the body is marked not indexable, a candidate for every
// search. The first pass of the background indexer after the wait (after
// a commit that stores messages, or at start) tries it again.
const TextIndexTries = 6

// TextIndexRetryDelay is the wait before the second try of a body
// (TextIndexTries): the last is about half an hour after the first.
const TextIndexRetryDelay = time.Minute

// TextIndexRetryAt returns when a body that failed tries times (at least 1)
// is tried again.
func TextIndexRetryAt(now time.Time, tries int) time.Time {
	return now.Add(TextIndexRetryDelay << (tries - 1))
}

// TextIndexBatch is how many messages a TextIndexer indexes per
// IndexText call (one transaction) unless its engine asks for more.
const TextIndexBatch = 200

const (
	// textIndexGather is how long a woken TextIndexer lets deliveries
	// accumulate before indexing them: one transaction for many
	// messages, not one (with its commit) per delivery.
	textIndexGather = 100 * time.Millisecond
	// textIndexRetry is how long it waits after a failure before it
	// tries again unless woken.
	textIndexRetry = time.Minute
)

// TextIndexer is an engine's background indexer: one goroutine that
// runs IndexText, a batch of messages at a time, until none is
// left, at start and whenever Wake is called (by the engine after each
// commit that stores messages). One goroutine bounds the CPU it takes.
// The methods of a nil TextIndexer do nothing.
type TextIndexer struct {
	index  func(ctx context.Context, limit int) (int, error)
	batch  int
	log    *slog.Logger
	wake   chan struct{}
	flush  chan chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// StartTextIndexer starts the indexer of index (an engine's IndexText),
// which takes up to batch messages per call (at least TextIndexBatch).
// The engine chooses: one whose cost per message falls with the batch
// (PostgreSQL: a posting row rewritten per term and batch) takes large
// ones; one whose batch blocks its writers (SQLite) keeps TextIndexBatch.
func StartTextIndexer(index func(ctx context.Context, limit int) (int, error), batch int, log *slog.Logger) *TextIndexer {
	ctx, cancel := context.WithCancel(context.Background())
	x := &TextIndexer{index: index, batch: max(batch, TextIndexBatch), log: log, wake: make(chan struct{}, 1),
		flush: make(chan chan struct{}), cancel: cancel, done: make(chan struct{})}
	go x.run(ctx)
	return x
}

// Wake tells the indexer that messages were stored. It never blocks.
func (x *TextIndexer) Wake() {
	if x == nil {
		return
	}
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// Flush returns once the indexer has found nothing left to index in a
// pass started after the call (or ctx ended, or it stopped).
func (x *TextIndexer) Flush(ctx context.Context) error {
	if x == nil {
		return nil
	}
	done := make(chan struct{})
	select {
	case x.flush <- done:
	case <-x.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-x.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop stops the indexer, abandoning its batch (rolled back: the
// messages stay unindexed for the next start), and waits for it.
func (x *TextIndexer) Stop() {
	if x == nil {
		return
	}
	x.cancel()
	<-x.done
}

func (x *TextIndexer) run(ctx context.Context) {
	defer close(x.done)
	var waiting []chan struct{} // Flush calls answered after the next pass
	gather := time.NewTimer(0)
	<-gather.C
	for {
		ok := x.pass(ctx)
		for _, w := range waiting {
			close(w)
		}
		waiting = nil
		var retry <-chan time.Time
		if !ok {
			retry = time.After(textIndexRetry)
		}
		select {
		case <-ctx.Done():
			return
		case w := <-x.flush:
			waiting = append(waiting, w)
			continue // at once: the caller waits
		case <-retry:
			continue
		case <-x.wake:
		}
		gather.Reset(textIndexGather)
		select {
		case <-ctx.Done():
			gather.Stop()
			return
		case w := <-x.flush:
			gather.Stop()
			waiting = append(waiting, w)
		case <-gather.C:
		}
	}
}

// pass indexes until a batch is not full (nothing was left when it
// started); false after a failure. Messages stored meanwhile woke the
// indexer: they wait for the next gathering, not for a batch of their
// own each.
func (x *TextIndexer) pass(ctx context.Context) bool {
	total := 0
	for {
		n, err := x.index(ctx, x.batch)
		if err != nil {
			if ctx.Err() == nil {
				x.log.Error("text indexing failed; searches read the messages not indexed", "err", err, "indexed", total)
			}
			return false
		}
		total += n
		if n < x.batch {
			if total > 10*TextIndexBatch {
				// A backlog: messages of an older version, or of a
				// process that stopped before indexing them.
				x.log.Info("text index caught up", "indexed", total)
			}
			return true
		}
	}
}

// IntersectSorted appends to dst the numbers in both ascending lists a
// and b and returns it. dst may be a[:0] (each write trails its read),
// which intersects in place; nil allocates.
func IntersectSorted(dst, a, b []uint32) []uint32 {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			dst = append(dst, a[i])
			i, j = i+1, j+1
		}
	}
	return dst
}
