package sqlite

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The message listing (ListMessages, the store's part of every IMAP
// FETCH, SEARCH and SORT) reads through connections of its own, opened
// with SQLite's C API (modernc's transpiled lib) instead of database/sql:
//
//   - database/sql's driver opens every connection FULLMUTEX, so each
//     sqlite3_column_* call takes and releases the connection's mutex (11
//     columns a row, two calls each); these are NOMUTEX, one goroutine
//     at a time owning a connection from the pool;
//   - the driver copies every blob into a new Go slice (zeroed, then
//     copied) and boxes every integer into an interface, which Scan then
//     converts; here columns are read in place, and a body or summary is
//     copied once, from SQLite's memory into the caller's buffer.
//
// Under a full-mailbox FETCH these were a third of the server's CPU.
// The connections are read-only (query_only), map the database as the
// reader pool's do, and wait for locks as long (busy_timeout).

// rawConn is one such connection with its prepared statements.
type rawConn struct {
	tls   *libc.TLS
	db    uintptr
	stmts map[string]uintptr
}

// rawPool hands out up to n connections, opened on first use.
type rawPool struct {
	path string
	free chan *rawConn // idle connections
	sem  chan struct{} // a token per connection open or being opened
	mu   sync.Mutex    // orders put and close
	done bool          // closed: connections put back are closed
}

func newRawPool(path string, n int) *rawPool {
	return &rawPool{path: path, free: make(chan *rawConn, n), sem: make(chan struct{}, n)}
}

var errPoolClosed = errors.New("sqlite: store closed")

// get returns an idle connection, opening one while fewer than the
// pool's size exist, else waiting for one to be put back.
func (p *rawPool) get(ctx context.Context) (*rawConn, error) {
	select {
	case c := <-p.free:
		return c, nil
	default:
	}
	select {
	case c := <-p.free:
		return c, nil
	case p.sem <- struct{}{}:
		p.mu.Lock()
		done := p.done
		p.mu.Unlock()
		if done {
			<-p.sem
			return nil, errPoolClosed
		}
		c, err := openRaw(p.path)
		if err != nil {
			<-p.sem
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives a connection back, its statements reset; after close it is
// closed instead.
func (p *rawPool) put(c *rawConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		c.close()
		<-p.sem
		return
	}
	p.free <- c // never blocks: at most cap(free) connections exist
}

// close closes the idle connections, and those in use as they are put
// back.
func (p *rawPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	for {
		select {
		case c := <-p.free:
			c.close()
			<-p.sem // a get then finds the pool closed instead of waiting
		default:
			return
		}
	}
}

// openRaw opens a read-only connection configured as the reader pool's.
func openRaw(path string) (*rawConn, error) {
	c := &rawConn{tls: libc.NewTLS(), stmts: map[string]uintptr{}}
	name, err := libc.CString(path)
	if err != nil {
		c.tls.Close()
		return nil, err
	}
	defer libc.Xfree(nil, name)
	out := libc.Xmalloc(nil, 8)
	if out == 0 {
		c.tls.Close()
		return nil, errors.New("sqlite: out of memory")
	}
	defer libc.Xfree(nil, out)
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, out,
		sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX|sqlite3.SQLITE_OPEN_EXRESCODE, 0)
	c.db = ptrAt(out)
	if rc != sqlite3.SQLITE_OK {
		err := c.err(rc)
		c.close()
		return nil, err
	}
	sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, int32(busyTimeout.Milliseconds()))
	for _, pragma := range []string{"PRAGMA query_only = 1", fmt.Sprintf("PRAGMA mmap_size = %d", readerMmap)} {
		if err := c.exec(pragma); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// ptrAt reads the pointer SQLite stored at p (an out parameter).
func ptrAt(p uintptr) uintptr {
	return uintptr(binary.NativeEndian.Uint64(libc.GoBytes(p, 8)))
}

// exec runs one statement that returns no rows.
func (c *rawConn) exec(query string) error {
	q, err := libc.CString(query)
	if err != nil {
		return err
	}
	defer libc.Xfree(nil, q)
	if rc := sqlite3.Xsqlite3_exec(c.tls, c.db, q, 0, 0, 0); rc != sqlite3.SQLITE_OK {
		return c.err(rc)
	}
	return nil
}

// err turns a result code into an error with SQLite's message.
func (c *rawConn) err(rc int32) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		if m := libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db)); m != msg {
			msg += ": " + m
		}
	}
	return fmt.Errorf("%s (%d)", msg, rc)
}

// prepare returns the connection's statement for query, preparing it
// once (SQLite re-prepares it itself after a schema change).
func (c *rawConn) prepare(query string) (uintptr, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	q, err := libc.CString(query)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(nil, q)
	out := libc.Xmalloc(nil, 8)
	if out == 0 {
		return 0, errors.New("sqlite: out of memory")
	}
	defer libc.Xfree(nil, out)
	if rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, q, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, out, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.err(rc)
	}
	st := ptrAt(out)
	c.stmts[query] = st
	return st, nil
}

func (c *rawConn) close() {
	for _, st := range c.stmts {
		sqlite3.Xsqlite3_finalize(c.tls, st)
	}
	c.stmts = nil
	if c.db != 0 {
		sqlite3.Xsqlite3_close_v2(c.tls, c.db)
		c.db = 0
	}
	c.tls.Close()
}

// rawStmt is a statement being stepped on a connection.
type rawStmt struct {
	c  *rawConn
	st uintptr
}

func (s rawStmt) bindInt64(i int, v int64) error {
	if rc := sqlite3.Xsqlite3_bind_int64(s.c.tls, s.st, int32(i), v); rc != sqlite3.SQLITE_OK {
		return s.c.err(rc)
	}
	return nil
}

// step advances to the next row: false at the end or on error.
func (s rawStmt) step() (bool, error) {
	switch rc := sqlite3.Xsqlite3_step(s.c.tls, s.st); rc {
	case sqlite3.SQLITE_ROW:
		return true, nil
	case sqlite3.SQLITE_DONE:
		return false, nil
	default:
		return false, s.c.err(rc)
	}
}

// reset ends the statement's read transaction; its bindings stay.
func (s rawStmt) reset() { sqlite3.Xsqlite3_reset(s.c.tls, s.st) }

func (s rawStmt) int64(i int) int64 { return sqlite3.Xsqlite3_column_int64(s.c.tls, s.st, int32(i)) }

func (s rawStmt) isNull(i int) bool {
	return sqlite3.Xsqlite3_column_type(s.c.tls, s.st, int32(i)) == sqlite3.SQLITE_NULL
}

// bytes returns a blob or text column in SQLite's memory, valid until
// the next step or reset; nil for NULL and for an empty value.
func (s rawStmt) bytes(i int) []byte {
	p := sqlite3.Xsqlite3_column_blob(s.c.tls, s.st, int32(i))
	n := sqlite3.Xsqlite3_column_bytes(s.c.tls, s.st, int32(i))
	if p == 0 || n == 0 {
		return nil
	}
	return libc.GoBytes(p, int(n))
}
