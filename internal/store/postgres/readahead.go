package postgres

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"

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
// calls are answered from memory.
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
	bodies []aheadBody
}

// aheadBody is one body read ahead; data aliases its batch's block.
type aheadBody struct {
	id    int64
	data  []byte
	batch *bodyBlock
}

// dropAhead forgets the bodies read ahead and not taken. The caller
// holds m.ra.mu.
func (m *maildrop) dropAhead() {
	for _, b := range m.ra.bodies {
		if b.batch != nil {
			b.batch.release()
		}
	}
	m.ra.bodies = nil
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

// takeAhead returns the body of message id if it was read ahead, and
// forgets it.
func (m *maildrop) takeAhead(id int64) (io.ReadCloser, bool) {
	for k := range m.ra.bodies {
		if b := &m.ra.bodies[k]; b.id == id {
			r := &blockReader{block: b.batch}
			r.Reset(b.data)
			*b = aheadBody{}
			return r, true
		}
	}
	return nil, false
}

// readAheadFrom reads the body of message i of the snapshot together with
// those that follow it, up to the bounds, and keeps all but message i's
// for later Body calls. It reports false, having read nothing, when
// message i's body does not fit in one chunk (it is read as a stream,
// not held). A message not found (expunged) is ErrNotFound.
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
	// One pooled block for the batch: each body is a slice of it.
	batch := &bodyBlock{buf: blockBuffers.Get().(*[]byte)}
	buf := (*batch.buf)[:0]
	bodies := make([]aheadBody, 0, len(ids))
	rows, _ := m.s.pool.Query(ctx, `SELECT m.id, m.size, (SELECT data FROM body_chunks c WHERE c.body_id = m.body_id AND c.seq = 0)
		FROM messages m WHERE m.id = ANY($1) AND m.mailbox_id = $2 AND m.uid <= $3`, ids, m.mailboxID, m.lastUID)
	var (
		id, size int64
		data     appendBytes
	)
	data.buf = &buf
	_, err := pgx.ForEachRow(rows, []any{&id, &size, &data}, func() error {
		if int64(data.n) == size {
			bodies = append(bodies, aheadBody{id: id, data: buf[len(buf)-data.n : len(buf) : len(buf)], batch: batch})
		} else if data.n > 0 { // read the usual way when its turn comes
			buf = buf[:len(buf)-data.n]
		}
		return nil
	})
	if err != nil {
		blockBuffers.Put(batch.buf)
		return nil, true, temporary("reading messages", err)
	}
	m.dropAhead()
	if len(bodies) == 0 {
		blockBuffers.Put(batch.buf)
	}
	batch.refs.Store(int32(len(bodies)))
	m.ra.bodies = bodies
	r, ok := m.takeAhead(m.msgs[i].ID)
	if !ok {
		return nil, true, notFound("message %d", m.msgs[i].ID)
	}
	return r, true, nil
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
