package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Body files live in dir/messages/XX/NAME: NAME is 32 random hex digits,
// XX one of 256 shard directories that keep directories small. A messages
// row stores "XX/NAME". A file is written once, under its final name, and
// never modified. Until a committed row names it, it is an orphan that the
// sweep at Open removes once it is old enough. Bodies of at most
// Options.InlineMax octets are not files at all: see writeBody.
//
// The shard is chosen by time, not by name: all deliveries within the same
// minute use one directory (cycling through the 256 in about four hours),
// so the group committer makes a whole batch's directory entries durable
// with a single directory fsync instead of one per message.

const bodiesDir = "messages"

// makeBodyDirs creates dir/messages and its 256 shards unless they exist,
// and then fsyncs the parents, so a later body file's path is durable.
func makeBodyDirs(dir string) error {
	root := filepath.Join(dir, bodiesDir)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	created := false
	for i := range 256 {
		err := os.Mkdir(filepath.Join(root, fmt.Sprintf("%02x", i)), 0o700)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		created = created || err == nil
	}
	if !created {
		return nil
	}
	return errors.Join(syncDir(root), syncDir(dir))
}

// bodyPath turns a stored "XX/NAME" body reference into a file path.
func (s *Store) bodyPath(ref string) string {
	return filepath.Join(s.dir, bodiesDir, filepath.FromSlash(ref))
}

// shardFor picks the shard directory for a body written at t (the wall
// clock: the shard only spreads files, it means nothing).
func shardFor(t time.Time) string {
	return fmt.Sprintf("%02x", uint64(t.Unix()/60)%256)
}

// storedBody describes a body written by writeBody: either inline (the
// bytes, to be inserted into blobs by the delivery's transaction) or a
// durable file.
type storedBody struct {
	name     string // "XX/NAME", as stored in messages.body
	size     int64
	dotLines bool
	inline   *[]byte // nil for a file; from the store's buffer pool
}

// writeBody streams r through a CRLF normaliser. A body of at most
// s.inlineMax octets stays in memory, to be stored in the blobs table by
// the delivery's transaction: its durability then costs nothing beyond the
// WAL fsync the group commit shares among many messages. A larger body
// spills into a new file whose contents are fsynced before writeBody
// returns; its directory entry is not durable yet: the caller must fsync
// filepath.Dir(s.bodyPath(b.name)) before committing a row that
// references it. On error no file remains. A raw body is stored byte for
// byte (see store.AppendMessage.Binary).
func (s *Store) writeBody(r io.Reader, raw bool) (storedBody, error) {
	var random [16]byte
	rand.Read(random[:])
	b := storedBody{name: shardFor(time.Now()) + "/" + hex.EncodeToString(random[:])}
	sw := &spillWriter{s: s, path: s.bodyPath(b.name), max: s.inlineMax}
	if s.inlineMax > 0 {
		sw.buf = s.buffers.Get().(*[]byte)
		*sw.buf = (*sw.buf)[:0]
	}
	info, err := store.CopyBody(sw, r, raw)
	b.size, b.dotLines = info.Size, info.DotLines
	if err == nil && sw.f != nil {
		err = sw.f.Sync()
	}
	if sw.f != nil {
		if cerr := sw.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(sw.path)
		}
	}
	if err != nil {
		s.releaseBody(sw.buf)
		var re store.ReadError
		if errors.As(err, &re) {
			return b, err
		}
		return b, temporary("writing message file", err)
	}
	if sw.f == nil {
		b.inline = sw.buf
	} else {
		s.releaseBody(sw.buf)
	}
	return b, nil
}

// releaseBody returns an inline buffer to the pool.
func (s *Store) releaseBody(buf *[]byte) {
	if buf != nil {
		s.buffers.Put(buf)
	}
}

// spillWriter keeps up to max octets in buf and moves everything to a new
// file at path once more arrive (max <= 0: always a file).
type spillWriter struct {
	s    *Store
	path string
	max  int
	buf  *[]byte
	f    *os.File
}

func (w *spillWriter) Write(p []byte) (int, error) {
	if w.f == nil {
		if w.buf != nil && len(*w.buf)+len(p) <= w.max {
			*w.buf = append(*w.buf, p...)
			return len(p), nil
		}
		f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return 0, err
		}
		w.f = f
		if w.buf != nil {
			if _, err := f.Write(*w.buf); err != nil {
				return 0, err
			}
			*w.buf = (*w.buf)[:0]
		}
	}
	return w.f.Write(p)
}

// openBody opens a body read from the database: the inline bytes, or else
// its file. A missing file (removed after an expunge that raced the
// caller's query) is store.ErrNotFound.
func (s *Store) openBody(name string, inline bool, data []byte) (io.ReadCloser, error) {
	if inline {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	f, err := os.Open(s.bodyPath(name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, store.ErrNotFound
	} else if err != nil {
		return nil, temporary("opening message", err)
	}
	return f, nil
}

// removeBodies deletes body files no committed row references any more.
// Failures only leave orphans for the sweep, so they are logged.
func (s *Store) removeBodies(names []string) {
	if len(names) == 0 {
		return
	}
	release, ok := s.allowRemovals()
	if !ok {
		return // a backup is running: the sweep removes them later
	}
	defer release()
	for _, name := range names {
		if err := os.Remove(s.bodyPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing message file", "name", name, "err", err)
		}
	}
}

// sweepOrphans removes body files that no message references: leftovers
// of a crash between writing a body and committing its row, or between a
// delete's commit and the file removal. With the store to itself
// (exclusive: see lockUsers) every unreferenced file is an orphan;
// otherwise only those older than orphanAge are: younger ones may be
// another process's delivery in progress.
//
// The sweep reads every body name, so it runs at most once per orphanAge
// across all processes (the time is kept in the meta table), unless force
// (serve's start, exclusive): a short-lived `pochta deliver` process per
// message must not pay for it each time.
func (s *Store) sweepOrphans(ctx context.Context, exclusive, force bool) error {
	due := force
	now := s.now()
	err := s.withTx(ctx, "scheduling sweep", func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'last_sweep'`).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if due = due || err != nil || now.Sub(fromDB(last)) >= orphanAge || fromDB(last).After(now); !due {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('last_sweep', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, toDB(now))
		return err
	})
	if err != nil || !due {
		return err
	}
	// Taken before the listing: a file the listing finds unreferenced may
	// be in a running backup's snapshot.
	release, ok := s.allowRemovals()
	if !ok {
		return nil
	}
	defer release()
	rows, err := s.reader.QueryContext(ctx, `SELECT body FROM messages UNION SELECT body FROM queue`)
	if err != nil {
		return err
	}
	names, err := scanStrings(rows)
	if err != nil {
		return err
	}
	referenced := make(map[string]struct{}, len(names))
	for _, n := range names {
		referenced[n] = struct{}{}
	}
	cutoff := now.Add(-orphanAge)
	root := filepath.Join(s.dir, bodiesDir)
	removed, size := 0, int64(0)
	for i := range 256 {
		shard := filepath.Join(root, fmt.Sprintf("%02x", i))
		entries, err := os.ReadDir(shard)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, ok := referenced[fmt.Sprintf("%02x/%s", i, e.Name())]; ok || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil || (!exclusive && !info.ModTime().Before(cutoff)) {
				continue
			}
			if err := os.Remove(filepath.Join(shard, e.Name())); err == nil {
				removed++
				size += info.Size()
			}
		}
	}
	if removed > 0 || force {
		s.log.Info("removed orphan message files", "count", removed, "bytes", size, "all_ages", exclusive)
	}
	return nil
}

// sweeper runs sweepOrphans periodically (Options.SweepEvery).
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startSweeper starts sweeping every interval; nil when interval <= 0.
// The sweep is never exclusive: deliveries of this process may be
// between writing a body file and committing its row, so only orphans
// older than orphanAge go.
func startSweeper(s *Store, every time.Duration) *sweeper {
	if every <= 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &sweeper{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.sweepOrphans(ctx, false, false); err != nil && ctx.Err() == nil {
				s.log.Warn("sweeping orphan message files", "err", err)
			}
		}
	}()
	return w
}

// stop ends the sweeper, cancelling a sweep in progress; nil is a no-op.
func (w *sweeper) stop() {
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// syncDir fsyncs a directory so entries created or removed in it are durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// queryBody runs a reader query whose one row is (body name, the inline
// bytes or NULL, size) and opens that body. No row is store.ErrNotFound.
// The inline bytes come from a scalar subquery, not a join: SQLite (3.54)
// re-prepares a statement whose join has a "col = ?" term every time a new
// value is bound, which cost 9% of the server's CPU under RETR load. NULL
// then means a file, except for an empty body, which needs neither.
//
// The query runs on the store's own connections (rawread.go), as the
// message listing does: the inline bytes are copied once, from SQLite's
// memory into a pooled buffer that the reader's Close returns. Through
// database/sql the driver made a fresh zeroed copy of every body first,
// which with the garbage it left was a third of a POP3 RETR's CPU.
func (s *Store) queryBody(ctx context.Context, query string, args ...int64) (io.ReadCloser, error) {
	c, err := s.raw.get(ctx)
	if err != nil {
		return nil, temporary("opening message", err)
	}
	defer s.raw.put(c)
	st, err := c.prepare(query)
	if err != nil {
		return nil, temporary("opening message", err)
	}
	stmt := rawStmt{c: c, st: st}
	defer stmt.reset() // before put: ends the read transaction
	for i, a := range args {
		if err := stmt.bindInt64(i+1, a); err != nil {
			return nil, temporary("opening message", err)
		}
	}
	found, err := stmt.step()
	if err != nil {
		return nil, temporary("opening message", err)
	}
	if !found {
		return nil, store.ErrNotFound
	}
	if stmt.isNull(1) && stmt.int64(2) > 0 {
		return s.openBody(string(stmt.bytes(0)), false, nil)
	}
	r := &inlineBody{s: s, buf: s.readBuffers.copy(stmt.bytes(1))}
	r.Reset(*r.buf)
	return r, nil
}

// inlineBody reads an inline body from a pooled buffer.
type inlineBody struct {
	bytes.Reader
	s   *Store
	buf *[]byte
}

func (b *inlineBody) Close() error {
	if b.buf != nil {
		b.Reset(nil) // a Read after Close must not see the buffer's next user
		b.s.readBuffers.put(b.buf)
		b.buf = nil
	}
	return nil
}

// readBufferPool holds the buffers inline bodies are read into, in size
// classes (4 KiB doubling up to 64 KiB, beyond that exact), so a listing
// of many small bodies holds little more memory than the bodies take: a
// FETCH holds a batch of them until each is written.
type readBufferPool struct{ classes [5]sync.Pool }

const minReadBuffer = 4 << 10

// class returns the size class for n octets, or -1 above the largest.
func (p *readBufferPool) class(n int) int {
	for c, size := 0, minReadBuffer; c < len(p.classes); c, size = c+1, size*2 {
		if n <= size {
			return c
		}
	}
	return -1
}

// copy returns a pooled buffer holding a copy of data.
func (p *readBufferPool) copy(data []byte) *[]byte {
	c := p.class(len(data))
	var buf *[]byte
	if c >= 0 {
		buf, _ = p.classes[c].Get().(*[]byte)
	}
	if buf == nil {
		b := make([]byte, 0, max(len(data), minReadBuffer<<max(c, 0)))
		buf = &b
	}
	*buf = append((*buf)[:0], data...)
	return buf
}

// put returns a buffer to the pool of its size class.
func (p *readBufferPool) put(buf *[]byte) {
	if c := p.class(cap(*buf)); c >= 0 && cap(*buf) == minReadBuffer<<c {
		p.classes[c].Put(buf)
	}
}
