package importer

import (
	"cmp"
	"context"

	"github.com/pochta-mail/pochta/internal/store"
)

// batch gathers the messages of one folder into transactions of bounded
// size, and books their outcome in the summary.
type batch struct {
	s     *Service
	ctx   context.Context
	acct  store.Account
	mb    store.Mailbox
	sum   *Summary
	total int // -1 when unknown

	msgs    []store.ImportMessage
	where   []string // file and line of each message, for problems
	cleanup []func() // after the flush (spooled mbox bodies)
	bytes   int64
	done    int
}

func (s *Service) newBatch(ctx context.Context, acct store.Account, mb store.Mailbox, total int, sum *Summary) *batch {
	return &batch{s: s, ctx: ctx, acct: acct, mb: mb, sum: sum, total: total}
}

// skip counts a message already imported, without reading it.
func (b *batch) skip() {
	b.sum.Known++
	b.done++
}

// add queues m (about size octets); the batch is stored when full.
// cleanup, when not nil, runs once the batch is stored.
func (b *batch) add(m store.ImportMessage, size int64, where string, cleanup ...func()) error {
	b.msgs = append(b.msgs, m)
	b.where = append(b.where, where)
	b.cleanup = append(b.cleanup, cleanup...)
	b.bytes += size
	if len(b.msgs) >= cmp.Or(b.s.Opt.BatchMessages, 500) || b.bytes >= cmp.Or(b.s.Opt.BatchBytes, 32<<20) {
		return b.flush()
	}
	return nil
}

// flush stores the queued messages in one transaction (or, in a dry run,
// only counts them).
func (b *batch) flush() error {
	defer func() {
		for _, f := range b.cleanup {
			f()
		}
		b.msgs, b.where, b.cleanup, b.bytes = b.msgs[:0], b.where[:0], b.cleanup[:0], 0
	}()
	if len(b.msgs) == 0 {
		return nil
	}
	if b.s.Opt.DryRun {
		b.sum.Messages += len(b.msgs)
		b.sum.Bytes += b.bytes
		b.done += len(b.msgs)
		b.progress()
		return nil
	}
	res, err := b.s.Store.ImportMessages(b.ctx, b.mb.ID, b.msgs)
	if err != nil {
		return err
	}
	for i, r := range res {
		switch {
		case r.Err != nil:
			b.sum.problem(b.where[i], "message not imported: %v", r.Err)
		case r.Skipped:
			b.sum.Known++
		default:
			b.sum.Messages++
			b.sum.Bytes += r.Size
			if b.mb.Name == store.InboxName {
				b.sum.inbox = append(b.sum.inbox, r.UID)
			}
			if b.msgs[i].UIDL != "" && r.UIDL != b.msgs[i].UIDL {
				b.sum.UIDLsReplaced++
				b.sum.problem(b.where[i], "POP3 UIDL %s is used by another message of %s: it became %s",
					b.msgs[i].UIDL, b.acct.Address, r.UIDL)
			}
		}
	}
	b.done += len(b.msgs)
	b.progress()
	return nil
}

func (b *batch) progress() {
	if b.s.Opt.Progress != nil {
		b.s.Opt.Progress(Progress{Account: b.acct.Address, Folder: b.mb.Name, Done: b.done, Total: b.total,
			Messages: b.sum.Messages, Bytes: b.sum.Bytes})
	}
}
