package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/store"
)

// Bodies live in two tables: bodies (one row per body: size, whether a
// line starts with ".") and body_chunks, the octets in chunkSize pieces.
// A body is written inside the transaction that first references it, so
// there are never orphans to sweep, and read chunk by chunk on demand, so
// a POP3 TOP or an IMAP partial FETCH of a 50 MB message reads one or two
// chunks, not the message, and no reader holds more than one chunk.
//
// Messages and queue entries reference a body by id; copies share it. The
// transaction that deletes the last reference deletes the body
// (deleteUnreferenced).

// chunkSize is the size of every chunk but a body's last. 256 KiB keeps
// the per-chunk overhead (a row, an index entry, a round trip) small next
// to the data, and a reader's buffer modest.
const chunkSize = 256 << 10

var chunkBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, chunkSize)
	return &b
}}

// storedBody describes a body written by writeBody.
type storedBody struct {
	id int64
	store.BodyInfo
}

// writeBody streams r (CRLF-normalised unless raw) into a new body within
// t. A body that fits in one chunk (most mail) costs one statement; a
// larger one gets its bodies row at its first full chunk. A failure of r
// is a store.ReadError.
func (s *Store) writeBody(ctx context.Context, t *tx, r io.Reader, raw bool) (storedBody, error) {
	w := &chunkWriter{ctx: ctx, t: t, buf: chunkBuffers.Get().(*[]byte)}
	*w.buf = (*w.buf)[:0]
	defer chunkBuffers.Put(w.buf)
	info, err := store.CopyBody(w, r, raw)
	b := storedBody{BodyInfo: info}
	switch {
	case err != nil:
	case w.id == 0:
		err = t.QueryRow(ctx, `WITH b AS (INSERT INTO bodies (size, dot_lines) VALUES ($1, $2) RETURNING id),
			c AS (INSERT INTO body_chunks (body_id, seq, data) SELECT id, 0, $3::bytea FROM b WHERE $1 > 0)
			SELECT id FROM b`, info.Size, info.DotLines, *w.buf).Scan(&b.id)
	default:
		if err = w.flush(); err == nil {
			b.id = w.id
			_, err = t.Exec(ctx, `UPDATE bodies SET size = $1, dot_lines = $2 WHERE id = $3`, info.Size, info.DotLines, b.id)
		}
	}
	if err != nil {
		var re store.ReadError
		if errors.As(err, &re) {
			return b, err
		}
		return b, temporary("storing message", err)
	}
	return b, nil
}

// chunkWriter cuts what it is given into chunks and inserts each as it
// fills, creating the bodies row before the first.
type chunkWriter struct {
	ctx context.Context
	t   *tx
	id  int64 // 0 until the first chunk is inserted
	seq int32
	buf *[]byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(*w.buf)
		take := min(room, len(p))
		*w.buf = append(*w.buf, p[:take]...)
		p = p[take:]
		if len(*w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush inserts the buffered chunk, if any.
func (w *chunkWriter) flush() error {
	if len(*w.buf) == 0 {
		return nil
	}
	if w.id == 0 {
		if err := w.t.QueryRow(w.ctx, `INSERT INTO bodies (size, dot_lines) VALUES (0, false) RETURNING id`).Scan(&w.id); err != nil {
			return err
		}
	}
	if _, err := w.t.Exec(w.ctx, `INSERT INTO body_chunks (body_id, seq, data) VALUES ($1, $2, $3)`,
		w.id, w.seq, *w.buf); err != nil {
		return err
	}
	w.seq++
	*w.buf = (*w.buf)[:0]
	return nil
}

// orphanAge is how old an unreferenced body must be before sweepOrphans
// removes it: younger ones may belong to a delivery between its two
// commits (see Deliver).
const orphanAge = time.Hour

// sweepOrphans removes bodies no message or queue entry references that
// are older than orphanAge: what a crash between a delivery's body commit
// and its rows' commit left. It runs on every node from time to time; the
// statement is cheap when there is nothing to do.
func (s *Store) sweepOrphans(ctx context.Context) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM bodies b WHERE b.created < now() - make_interval(secs => $1)
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)
		AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.body_id = b.id)`, orphanAge.Seconds())
	if err != nil {
		s.log.Warn("sweeping orphan bodies", "err", err)
	} else if n := tag.RowsAffected(); n > 0 {
		s.log.Info("removed orphan message bodies", "count", n)
	}
}

// bodyColumns selects, for a row of messages m, what a body reader
// needs: the body id, its size and its first chunk, so a typical message
// costs one query.
const bodyColumns = `m.body_id, m.size, (SELECT data FROM body_chunks WHERE body_id = m.body_id AND seq = 0)`

// chunkInto copies a scanned chunk into a pooled buffer instead of a new
// slice per chunk, so reading a large body allocates one buffer, not its
// size (pgtype.BytesScanner).
type chunkInto struct{ buf *[]byte }

func (c chunkInto) ScanBytes(v []byte) error {
	*c.buf = append((*c.buf)[:0], v...)
	return nil
}

// A bodyBlock is a pooled buffer holding several small bodies read in
// one statement (a POP3 read-ahead, an IMAP listing), each a slice of
// it. A fresh megabyte per statement, zeroed and then collected, cost
// more CPU than the copy of the bodies into it. refs counts the bodies
// whose share is neither dropped nor closed; the last one returns the
// buffer to the pool. A reader not closed keeps its buffer out of the
// pool (the collector takes it), never in use twice.
type bodyBlock struct {
	buf  *[]byte
	refs atomic.Int32
}

// blockSize is the capacity of a bodyBlock's buffer.
const blockSize = 1 << 20

// blockBuffers holds bodyBlock buffers of capacity blockSize.
var blockBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, blockSize)
	return &b
}}

// release drops one reference to b, pooling its buffer after the last.
func (b *bodyBlock) release() {
	if b.refs.Add(-1) == 0 {
		*b.buf = (*b.buf)[:0]
		blockBuffers.Put(b.buf)
		b.buf = nil
	}
}

// blockReader reads a body held in a block; Close gives up its share of
// the block.
type blockReader struct {
	bytes.Reader
	block *bodyBlock
}

func (r *blockReader) Close() error {
	if r.block != nil {
		r.Reset(nil)
		r.block.release()
		r.block = nil
	}
	return nil
}

// bodyReader reads a body chunk by chunk. It implements io.Seeker, so an
// IMAP partial FETCH starts at the chunk it needs.
type bodyReader struct {
	s     *Store
	id    int64
	size  int64
	off   int64
	seq   int64   // the chunk in data; -1 = none
	data  []byte  // chunk seq
	buf   *[]byte // pooled buffer data lives in (nil: data is not pooled)
	close bool
}

// openBody returns a reader of body id, whose first chunk the caller may
// already have (first; nil when it did not ask or the body is empty).
func (s *Store) openBody(id, size int64, first []byte) *bodyReader {
	r := &bodyReader{s: s, id: id, size: size, seq: -1}
	if first != nil {
		r.seq, r.data = 0, first
	}
	return r
}

// queryBody runs a one-row query of bodyColumns and opens that body, its
// first chunk read into a pooled buffer. No row is store.ErrNotFound.
func (s *Store) queryBody(ctx context.Context, query string, args ...any) (*bodyReader, error) {
	r := &bodyReader{s: s, seq: -1, buf: chunkBuffers.Get().(*[]byte)}
	*r.buf = (*r.buf)[:0]
	err := s.pool.QueryRow(ctx, query, args...).Scan(&r.id, &r.size, chunkInto{r.buf})
	if err != nil {
		r.Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, store.ErrNotFound
		}
		return nil, temporary("opening message", err)
	}
	if r.size > 0 {
		r.seq, r.data = 0, *r.buf
	}
	return r, nil
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.close {
		return 0, errors.New("postgres: read of a closed body")
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	seq := r.off / chunkSize
	if seq != r.seq {
		// Chunks are immutable: no transaction is needed across them.
		// A body deleted meanwhile (an expunge on another session) ends
		// the read with an error rather than with a short body.
		if r.buf == nil {
			r.buf = chunkBuffers.Get().(*[]byte)
		}
		r.seq, r.data = -1, nil
		err := r.s.pool.QueryRow(context.Background(), `SELECT data FROM body_chunks WHERE body_id = $1 AND seq = $2`,
			r.id, seq).Scan(chunkInto{r.buf})
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("postgres: body %d chunk %d: %w", r.id, seq, store.ErrNotFound)
		} else if err != nil {
			return 0, temporary("reading message", err)
		}
		r.seq, r.data = seq, *r.buf
	}
	in := r.off - r.seq*chunkSize
	if in >= int64(len(r.data)) {
		return 0, fmt.Errorf("postgres: body %d is shorter than its size %d: %w", r.id, r.size, io.ErrUnexpectedEOF)
	}
	n := copy(p, r.data[in:])
	r.off += int64(n)
	return n, nil
}

// Seek moves the read offset; no chunk is read until the next Read.
func (r *bodyReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return r.off, errors.New("postgres: bad whence")
	}
	if offset < 0 {
		return r.off, errors.New("postgres: negative offset")
	}
	r.off = offset
	return offset, nil
}

// WriteTo copies the rest of the body to w a chunk at a time, without the
// extra copy io.Copy's buffer would make.
func (r *bodyReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < r.size {
		if r.seq != r.off/chunkSize {
			if _, err := r.Read(nil); err != nil {
				return total, err
			}
		}
		in := r.off - r.seq*chunkSize
		if in >= int64(len(r.data)) {
			return total, fmt.Errorf("postgres: body %d is shorter than its size %d: %w", r.id, r.size, io.ErrUnexpectedEOF)
		}
		n, err := w.Write(r.data[in:])
		total += int64(n)
		r.off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *bodyReader) Close() error {
	r.close, r.data = true, nil
	if r.buf != nil {
		chunkBuffers.Put(r.buf)
		r.buf = nil
	}
	return nil
}

// deleteUnreferenced deletes, within t, those of the given bodies that no
// message or queue entry references any more. The bodies are locked
// first, so a concurrent COPY that shares one either committed before the
// check (and keeps it) or waits and then fails its foreign key check.
func deleteUnreferenced(ctx context.Context, t *tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.Exec(ctx, `SELECT 1 FROM bodies WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids); err != nil {
		return temporary("deleting message bodies", err)
	}
	if _, err := t.Exec(ctx, `DELETE FROM bodies b WHERE b.id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)
		AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.body_id = b.id)`, ids); err != nil {
		return temporary("deleting message bodies", err)
	}
	return nil
}
