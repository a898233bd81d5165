package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// pop3 runs a POP3 source: every message whose UIDL is not recorded is
// fetched (with RFC 2449 PIPELINING, the RETRs sent ahead of their
// replies); with Delete, every recorded one is deleted (DELE after the
// last commit, applied by QUIT).
func (j *job) pop3(ctx context.Context) (Result, error) {
	conn, err := j.dial(ctx)
	if err != nil {
		return j.res, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := newPOP3Client(conn, j.f.timeout())
	if err != nil {
		return j.res, j.ctxErr(ctx, err)
	}
	caps := c.capa()
	if j.spec.TLS == TLSStart {
		if _, ok := caps["STLS"]; !ok {
			return j.res, errors.New("the server does not offer STLS, and the URL requires it")
		}
		if err := c.stls(j.tlsConfig()); err != nil {
			return j.res, j.ctxErr(ctx, err)
		}
		caps = c.capa() // RFC 2595: capabilities may change after STLS
	}
	if err := c.login(j.spec.Auth, j.spec.User, j.password, caps); err != nil {
		return j.res, j.ctxErr(ctx, fmt.Errorf("login as %s: %w", j.spec.User, err))
	}
	msgs, err := c.list()
	if err != nil {
		return j.res, j.ctxErr(ctx, err)
	}
	k, err := j.known(ctx, "")
	if err != nil {
		return j.res, err
	}
	present, seen := map[string]bool{}, map[string]int{}
	for _, m := range msgs {
		present[m.uidl] = true
		seen[m.uidl]++
	}
	// Deletions are sent after the last commit, before QUIT: a DELE is
	// applied only by QUIT anyway, and a RETR sent ahead must not find
	// one between it and its reply.
	var deleted []string
	var deleNums []int
	// dele notes a message durable here (now or by an earlier run) for
	// deletion there. Not when the server shows its UIDL on several
	// messages (RFC 1939 forbids it): only one of them was stored.
	dele := func(m pop3Msg) error {
		if !j.src.Delete {
			return nil
		}
		if seen[m.uidl] > 1 {
			j.log.Warn("the server gives several messages one UIDL: they are kept there", "uidl", m.uidl)
			return nil
		}
		deleNums, deleted = append(deleNums, m.n), append(deleted, m.uidl)
		return nil
	}
	// The messages to retrieve, in order; with PIPELINING, up to
	// pipelineWindow RETRs go ahead of the one being read.
	_, pipelining := caps["PIPELINING"]
	var toRetr []int
	for i, m := range msgs {
		if _, done := k.fetched[m.uidl]; !done && k.skipped[m.uidl].ID == "" && m.size <= j.f.maxSize() {
			toRetr = append(toRetr, i)
		}
	}
	sent, next := 0, 0 // RETR sent for toRetr[:sent]; toRetr[next] is the next to read
	for _, m := range msgs {
		if err := ctx.Err(); err != nil {
			break
		}
		id := store.FetchedID{ID: m.uidl}
		_, done := k.fetched[m.uidl]
		switch {
		case done:
			if err := dele(m); err != nil {
				return j.res, err
			}
		case k.skipped[m.uidl].ID != "":
		case m.size > j.f.maxSize():
			if err := j.skip(ctx, id, m.size); err != nil {
				return j.res, err
			}
		default:
			p := next // toRetr[p] is this message
			next++
			if pipelining {
				var ns []int
				for ; sent < len(toRetr) && sent < p+pipelineWindow; sent++ {
					ns = append(ns, msgs[toRetr[sent]].n)
				}
				if err := c.retrAhead(ns); err != nil {
					return j.res, j.ctxErr(ctx, err)
				}
			}
			if err := j.pop3Fetch(ctx, c, m, id, dele); err != nil {
				// The messages read whole before it are stored all the
				// same: a server that always fails on one message must
				// not hold back the ones before it in the batch.
				if ferr := j.flush(ctx); ferr != nil {
					j.log.Warn("storing the messages read before the failure", "err", ferr)
				}
				return j.res, j.ctxErr(ctx, err)
			}
		}
	}
	if err := j.flush(ctx); err != nil {
		return j.res, j.ctxErr(ctx, err)
	}
	if err := ctx.Err(); err != nil {
		return j.res, err // nothing is deleted there: DELE and QUIT would wait for the replies sent ahead
	}
	if err := c.dele(deleNums, pipelining); err != nil {
		return j.res, j.ctxErr(ctx, err)
	}
	if err := c.quit(); err != nil {
		return j.res, j.ctxErr(ctx, err)
	}
	j.res.Deleted = len(deleted)
	// The +OK to QUIT says they are gone: forget their UIDLs now, so a
	// server that hands a UIDL out again (RFC 1939 only says it should
	// not) gets the new message fetched, not deleted unseen.
	if err := j.f.Store.ForgetFetchedIDs(ctx, j.src.ID, "", deleted); err != nil {
		return j.res, err
	}
	if err := j.prune(ctx, k, present); err != nil {
		return j.res, err
	}
	return j.res, ctx.Err()
}

// pop3Fetch retrieves one message (see take). dele runs once it is
// durable here.
func (j *job) pop3Fetch(ctx context.Context, c *pop3Client, m pop3Msg, id store.FetchedID, dele func(pop3Msg) error) error {
	body, err := c.retr(m.n)
	if err != nil {
		return err
	}
	err = j.take(ctx, body, id, "", time.Time{}, func() error { return dele(m) })
	// The rest of a body not read (one larger than the limit) must not
	// desynchronise the session.
	if _, cerr := io.Copy(io.Discard, body); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, errTooLarge) {
		return j.skip(ctx, id, m.size)
	}
	return err
}

// ctxErr prefers the context's error to the network error it caused.
func (j *job) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
