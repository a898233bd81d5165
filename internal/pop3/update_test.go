package pop3

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// pausingDeletes is the real store whose Delete stops at its start until
// the test lets it go, so a test can cancel the session's context while
// UPDATE is in progress. It records whether the context Delete got was
// still alive when the real Delete ran.
type pausingDeletes struct {
	store.Maildrops
	entered chan struct{} // closed when Delete is entered
	release chan struct{} // closed by the test to let Delete proceed
	ctxErr  chan error    // Delete's ctx.Err() just before the real Delete
}

func (p *pausingDeletes) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	md, err := p.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return pausingDelete{md, p}, nil
}

type pausingDelete struct {
	store.Maildrop
	p *pausingDeletes
}

func (d pausingDelete) Delete(ctx context.Context, ids []int64) error {
	close(d.p.entered)
	<-d.p.release
	d.p.ctxErr <- ctx.Err()
	return d.Maildrop.Delete(ctx, ids)
}

// TestShutdownDuringUpdateFinishesIt: the ServeConn contract says a
// session already in UPDATE finishes its transaction when ctx is
// cancelled. The cancel lands while Delete is running; the deletes must
// be applied and the client must get its +OK.
func TestShutdownDuringUpdateFinishesIt(t *testing.T) {
	t.Parallel()
	p := &pausingDeletes{entered: make(chan struct{}), release: make(chan struct{}), ctxErr: make(chan error, 1)}
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops {
		p.Maildrops = m
		return p
	}})
	e.deliver(testUser, msg1, msg2)
	c := e.login()
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
C: QUIT
`)
	<-p.entered
	e.cancel() // SIGTERM arrives in the middle of UPDATE
	close(p.release)
	if err := <-p.ctxErr; err != nil {
		t.Errorf("UPDATE ran with a cancelled context (%v): the shutdown would abort it", err)
	}
	c.expect("+OK Logging out, messages deleted")
	c.expectClosed()
	e.waitIdle()

	if got := storedBodies(t, e); len(got) != 1 || got[0] != msg2 {
		t.Fatalf("after the UPDATE the maildrop holds %q, want only message 2", got)
	}
}

// TestMessageExpungedByAnotherProcess: while a session has its maildrop
// open, another process sharing the store (here a second engine on the
// same directory, as `pochta` on another node would be) expunges a
// message over IMAP, which does not take the POP3 lock.
// RETR and TOP of it get a plain -ERR and the session carries on; asking
// again counts as a bad command; DELE of it and QUIT still work.
func TestMessageExpungedByAnotherProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{}, func(s *Server) { s.MaxBadCommands = 1 })
	e.deliver(testUser, msg1, msg2)
	c := e.login()

	other, err := sqlite.Open(t.Context(), e.dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	acct, err := other.Account(t.Context(), testUser)
	if err != nil {
		t.Fatal(err)
	}
	// The first message goes as an IMAP client's STORE +FLAGS \Deleted
	// and EXPUNGE would make it go.
	expungeFirst := func() {
		t.Helper()
		ctx := t.Context()
		if _, err := other.OpenMaildrop(ctx, acct.ID); !errors.Is(err, store.ErrLocked) {
			t.Fatalf("the other engine's OpenMaildrop during the session: %v, want ErrLocked", err)
		}
		inbox, err := other.GetMailbox(ctx, acct.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		uids, err := other.ListUIDs(ctx, inbox.ID)
		if err != nil || len(uids) == 0 {
			t.Fatalf("ListUIDs: %v, %v", uids, err)
		}
		if _, err := other.UpdateFlags(ctx, inbox.ID, uids[:1], store.FlagsAdd, []string{`\Deleted`}); err != nil {
			t.Fatal(err)
		}
		if gone, err := other.Expunge(ctx, inbox.ID, uids[:1]); err != nil || len(gone) != 1 {
			t.Fatalf("Expunge: %v, %v", gone, err)
		}
	}
	expungeFirst()

	c.run(`
C: LIST 1
S: +OK 1 ` + itoa(len(msg1)) + `
C: RETR 1
S: -ERR Message 1 expunged
C: RETR 2
S: +OK ` + itoa(len(msg2)) + ` octets
`)
	if got := c.multiline(); got != msg2 {
		t.Fatalf("RETR 2 = %q", got)
	}
	c.run(`
C: DELE 1
S: +OK Message 1 deleted
C: QUIT
S: +OK Logging out, messages deleted
`)
	c.expectClosed()

	// A client that keeps asking for the vanished message is a bad
	// client: with MaxBadCommands 1, the second request ends the session.
	e.deliver(testUser, msg1)
	c = e.login()
	expungeFirst()
	c.run(`
C: TOP 1 0
S: -ERR Message 1 expunged
C: TOP 1 0
S: -ERR Message 1 expunged
S: -ERR Too many bad commands, closing connection
`)
	c.expectClosed()
}

// recordingMarks is the real store recording what MarkRetrieved gets;
// with failDelete, Delete fails.
type recordingMarks struct {
	store.Maildrops
	failDelete bool
	mu         sync.Mutex
	marked     [][]int64
}

func (r *recordingMarks) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	md, err := r.Maildrops.OpenMaildrop(ctx, id)
	if err != nil {
		return nil, err
	}
	return &recordingMark{Maildrop: md, r: r}, nil
}

type recordingMark struct {
	store.Maildrop
	r *recordingMarks
}

func (m *recordingMark) MarkRetrieved(ctx context.Context, ids []int64, at time.Time) error {
	m.r.mu.Lock()
	m.r.marked = append(m.r.marked, slices.Clone(ids))
	m.r.mu.Unlock()
	return m.Maildrop.MarkRetrieved(ctx, ids, at)
}

func (m *recordingMark) Delete(ctx context.Context, ids []int64) error {
	if m.r.failDelete {
		return fmt.Errorf("disk on fire: %w", store.ErrTemporary)
	}
	return m.Maildrop.Delete(ctx, ids)
}

// TestQuitMarksOnlyKeptMessages: a QUIT whose UPDATE deleted retrieved
// messages records the first retrieval only of those it kept (one store
// transaction for download-and-delete, not two); when the UPDATE fails,
// every retrieved message is recorded.
func TestQuitMarksOnlyKeptMessages(t *testing.T) {
	t.Parallel()
	for _, failDelete := range []bool{false, true} {
		r := &recordingMarks{failDelete: failDelete}
		e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops {
			r.Maildrops = m
			return r
		}})
		e.deliver(testUser, msg1, msg2, msg1)
		acct, err := e.store.Account(t.Context(), testUser)
		if err != nil {
			t.Fatal(err)
		}
		drop, err := e.store.OpenMaildrop(t.Context(), acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		all := drop.Messages()
		drop.Close()
		c := e.login()
		for _, cmd := range []string{"RETR 1", "RETR 2"} {
			c.send(cmd)
			c.line()
			c.multiline()
		}
		c.send("DELE 1")
		c.line()
		c.send("DELE 3") // not retrieved
		c.line()
		c.send("QUIT")
		c.line()
		c.expectClosed()
		e.waitIdle()
		want := [][]int64{{all[1].ID}}
		if failDelete {
			want = [][]int64{{all[0].ID, all[1].ID}}
		}
		r.mu.Lock()
		if !reflect.DeepEqual(r.marked, want) {
			t.Errorf("failDelete=%v: MarkRetrieved got %v, want %v", failDelete, r.marked, want)
		}
		r.mu.Unlock()
	}
}
