package postgres

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// A POP3 client downloading its maildrop sends RETR 1, RETR 2, ... each
// after the last one's answer. On SQLite each is a read within the
// process; here each would be a round trip to the database: a statement,
// a wakeup of its backend and one of ours, which on a busy machine costs
// more than sending the message. So once a maildrop is read in order, the
// next body is read together with those that follow it, up to
// readAheadBytes and readAheadCount, in one statement, and the next Body
// calls are answered from memory. The statement runs on a goroutine of
// its own and each body is served as soon as its row has arrived: waiting
// for the whole statement, one client waited about 1.6 ms every 50
// messages (a megabyte read and sent by the backend, received by pgx),
// a quarter of a one-client download's time.
//
// What that changes: a message another session expunges after it was
// read ahead is still served, as if the RETR had come just before the
// expunge (the maildrop is a snapshot taken at login anyway; a message
// expunged before it was read ahead is ErrNotFound as before). The lease
// and fencing are untouched: reads never needed the lock row, and every
// write still checks it.

const (
	// readAheadBytes bounds the bodies one maildrop holds read ahead: a
	// session downloading a maildrop holds at most this much more than one
	// reading a message at a time. They fill one block.
	readAheadBytes = blockSize
	// readAheadCount bounds how many bodies one statement reads.
	readAheadCount = 64
)

// readAhead is a maildrop's read-ahead state.
type readAhead struct {
	mu     sync.Mutex
	last   int  // index in msgs of the last message opened; -1 = none
	sorted bool // msgs are in ascending ID order (index searches)
	stream *aheadStream
}

// aheadStream is one read-ahead statement, run by readStream: it appends
// each body to the block as its row arrives, and takeAhead waits for the
// body it wants. The block holds a reference for the statement, given up
// before done is set, and one per body arrived and neither taken nor
// dropped.
type aheadStream struct {
	ids   []int64 // the messages asked for, in the order their rows come
	block *bodyBlock

	mu      sync.Mutex
	changed sync.Cond   // a row arrived, or the statement ended
	bodies  []aheadBody // arrived; the zero value once taken
	done    bool
	err     error // why the statement ended early, if it did
	dropped bool  // by dropAhead: rows that still arrive are not kept
}

// aheadBody is one body read ahead; data aliases the stream's block.
type aheadBody struct {
	id   int64
	data []byte
}

// errDropped ends a read-ahead statement whose bodies are no longer wanted.
var errDropped = errors.New("read-ahead dropped")

// dropAhead forgets the bodies read ahead and not taken, and waits for
// the statement to end: rows still on their way are read and not kept
// (the statement is not cancelled: pgx closes the connection of a
// cancelled query), at most a block's worth. So no statement outlives
// its maildrop, or runs beside the next of the same maildrop. The caller
// holds m.ra.mu.
func (m *maildrop) dropAhead() {
	st := m.ra.stream
	if st == nil {
		return
	}
	m.ra.stream = nil
	st.mu.Lock()
	defer st.mu.Unlock()
	st.dropped = true
	for _, b := range st.bodies {
		if b.id != 0 {
			st.block.release()
		}
	}
	st.bodies = nil
	for !st.done {
		st.changed.Wait()
	}
}

// index returns the index of message id in the snapshot, or -1.
func (m *maildrop) index(id int64) int {
	if j := m.ra.last + 1; j < len(m.msgs) && m.msgs[j].ID == id {
		return j
	}
	if m.ra.sorted {
		j, found := slices.BinarySearchFunc(m.msgs, id, func(mm store.MaildropMessage, id int64) int {
			return cmp.Compare(mm.ID, id)
		})
		if found {
			return j
		}
		return -1
	}
	for j := range m.msgs {
		if m.msgs[j].ID == id {
			return j
		}
	}
	return -1
}

// takeAhead returns the body of message id if the current stream reads
// it, once its row has arrived, and forgets it. It reports false for a
// message the stream does not read, or whose row did not come (too large
// for the block, expunged, or the statement failed).
func (m *maildrop) takeAhead(id int64) (io.ReadCloser, bool) {
	st := m.ra.stream
	if st == nil || !slices.Contains(st.ids, id) {
		return nil, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for {
		for k := range st.bodies {
			if b := &st.bodies[k]; b.id == id {
				r := &blockReader{block: st.block}
				r.Reset(b.data)
				*b = aheadBody{}
				return r, true
			}
		}
		if st.done {
			return nil, false
		}
		st.changed.Wait()
	}
}

// readAheadTimeout bounds a read-ahead statement, which does not end
// with the session's context (see dropAhead).
const readAheadTimeout = time.Minute

// readAheadFrom starts reading the body of message i of the snapshot
// together with those that follow it, up to the bounds, and returns
// message i's once it has arrived; later Body calls take the others. It
// reports false, having read nothing, when message i's body does not fit
// in one chunk (it is read as a stream, not held). A message not found
// (expunged) is ErrNotFound.
func (m *maildrop) readAheadFrom(ctx context.Context, i int) (io.ReadCloser, bool, error) {
	if m.msgs[i].Size > chunkSize {
		return nil, false, nil
	}
	ids := make([]int64, 0, 16)
	var total int64
	for j := i; j < len(m.msgs) && len(ids) < readAheadCount; j++ {
		size := m.msgs[j].Size
		if size > chunkSize {
			continue // read as a stream when its turn comes
		}
		if j > i && total+size > readAheadBytes {
			break
		}
		ids = append(ids, m.msgs[j].ID)
		total += size
	}
	m.dropAhead()
	st := &aheadStream{ids: ids, block: &bodyBlock{buf: blockBuffers.Get().(*[]byte)}}
	st.changed.L = &st.mu
	st.block.refs.Store(1) // the statement's
	m.ra.stream = st
	go m.readStream(context.WithoutCancel(ctx), st)
	r, ok := m.takeAhead(m.msgs[i].ID)
	if ok {
		return r, true, nil
	}
	st.mu.Lock()
	err := st.err
	st.mu.Unlock()
	if err != nil {
		return nil, true, temporary("reading messages", err)
	}
	return nil, true, notFound("message %d", m.msgs[i].ID)
}

// readStream runs st's statement (see aheadStream). Its rows come in the
// order of st.ids.
func (m *maildrop) readStream(ctx context.Context, st *aheadStream) {
	ctx, cancel := context.WithTimeout(ctx, readAheadTimeout)
	defer cancel()
	buf := (*st.block.buf)[:0]
	rows, _ := m.s.pool.Query(ctx, `SELECT m.id, m.size, (SELECT data FROM body_chunks c WHERE c.body_id = m.body_id AND c.seq = 0)
		FROM unnest($1::bigint[]) WITH ORDINALITY AS x(id, n) JOIN messages m ON m.id = x.id
		WHERE m.mailbox_id = $2 AND m.uid <= $3 ORDER BY x.n`, st.ids, m.mailboxID, m.lastUID)
	var (
		id, size int64
		data     = appendBytes{buf: &buf}
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &size, &data}, func() error {
		whole := int64(data.n) == size
		if !whole && data.n > 0 { // read the usual way when its turn comes
			buf = buf[:len(buf)-data.n]
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.dropped {
			return errDropped
		}
		if whole {
			st.block.refs.Add(1)
			st.bodies = append(st.bodies, aheadBody{id: id, data: buf[len(buf)-data.n : len(buf) : len(buf)]})
			st.changed.Broadcast()
		}
		return nil
	})
	st.block.release() // the statement's reference
	st.mu.Lock()
	st.done = true
	if err != nil && !errors.Is(err, errDropped) {
		st.err = err
	}
	st.changed.Broadcast()
	st.mu.Unlock()
}

// appendBytes scans a bytea by appending it to *buf (pgtype.BytesScanner)
// and records its length in n (0 for NULL: an empty body has no chunk).
// A value that does not fit in buf's capacity is not appended (n = -1):
// the batch's buffer is never reallocated, so its bodies stay in the
// buffer that goes back to the pool.
type appendBytes struct {
	buf *[]byte
	n   int
}

func (a *appendBytes) ScanBytes(v []byte) error {
	if len(v) > cap(*a.buf)-len(*a.buf) {
		a.n = -1
		return nil
	}
	*a.buf = append(*a.buf, v...)
	a.n = len(v)
	return nil
}
