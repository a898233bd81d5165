// Package sqlite is Pochta's default storage engine: metadata in one SQLite
// database (dir/pochta.db, WAL mode) and message bodies in files under
// dir/messages/. It implements store.Store with the pure-Go
// modernc.org/sqlite driver, so the binary builds with CGO_ENABLED=0.
//
// Several processes may use one data directory at once: `pochta deliver`
// writes while `pochta serve` runs. SQLite's file locking plus a busy
// timeout serialises their writes. The POP3 maildrop lock is a byte-range
// lock on a file of the directory (see lockTable), so it holds across
// processes and across Stores of one process, and goes with its process.
// Events reach another process's subscribers by polling (watch.go).
//
// Durability: the writer connection runs with synchronous=FULL, and body
// files plus their directory are fsynced before the metadata transaction
// that references them commits. A method that returns nil has made its
// effect durable.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pochta-mail/pochta/internal/store"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger     // nil discards logs
	Now    func() time.Time // nil means time.Now
	// PollInterval is how often changes made by other processes are
	// looked for while anyone is subscribed to events; 0 = 500ms.
	PollInterval time.Duration
	// InlineMax is the largest body (in octets, after CRLF normalisation)
	// stored inside the database rather than in a file: 0 means
	// DefaultInlineMax, a negative value stores every body in a file.
	InlineMax int
	// Recover removes, at Open, every body file no committed row
	// references, however young, when no other process has the store
	// open (pochta serve sets it: the start after a crash). Otherwise
	// the scheduled sweep removes orphans older than an hour, or all of
	// them if it happens to run with the store to itself.
	Recover bool
	// Reserve is the size of the disk-full reserve (reserve.go): 0 means
	// DefaultReserve, a negative value keeps none.
	Reserve int64
	// KeepExpunged, when not 0, sets how many expunge tombstones each
	// mailbox keeps for QRESYNC (schema migration 9; a negative value
	// keeps none). It is stored in the database, for every process;
	// 0 leaves the stored value (DefaultKeepExpunged unless set).
	KeepExpunged int
	// TextIndexer runs the background text indexer (store.TextIndexer):
	// messages are stored unindexed and indexed after their commit, and
	// at Open those a crash or an older version left unindexed. pochta
	// serve sets it; without it only IndexText indexes.
	TextIndexer bool
	// SweepEvery, when positive, runs the orphan sweep (see Recover; at
	// most once per hour across processes, and only files older than an
	// hour) that often while the store is open, not only at Open. pochta
	// serve sets it, so the files that a killed `pochta deliver` leaves
	// do not wait for serve's next start.
	SweepEvery time.Duration
}

// DefaultKeepExpunged is how many expunge tombstones a mailbox keeps: a
// client that last synchronised before the oldest one kept gets a full
// resynchronisation (docs/IMAP.md). At 10,000, a tombstone table costs
// about 300 KB per mailbox at most.
const DefaultKeepExpunged = 10000

// DefaultInlineMax keeps typical mail (a few KiB to a few tens of KiB)
// inside SQLite, where one WAL fsync makes a whole batch of deliveries
// durable; a body file costs two fsyncs of its own (file and directory).
// Above it, bodies go to files so large messages neither bloat the WAL nor
// pass through memory whole. Measured in docs/BENCHMARKS.md.
const DefaultInlineMax = 64 << 10

// Store is the SQLite engine. It is safe for concurrent use.
type Store struct {
	dir    string
	log    *slog.Logger
	now    func() time.Time
	writer *sql.DB  // one connection: SQLite allows one writer at a time anyway
	reader *sql.DB  // several connections: WAL readers never block the writer
	raw    *rawPool // connections of the message listing, outside database/sql (rawread.go)

	locks       lockTable
	snaps       store.SnapshotCache // snapshots of large maildrops kept between sessions
	commits     *committer
	deletes     deleteBatcher // DeleteQueued group commit
	events      store.Bus
	readStmts   stmtCache // reader statements prepared once
	writeStmts  stmtCache // writer statements prepared once (txQuery)
	watch       *watcher
	closeMu     sync.Once
	usersLock   *os.File // flock shared by every process with the store open
	reserve     int64    // disk-full reserve size; <= 0 = none
	reserveMu   sync.Mutex
	reserveGone atomic.Bool // released or not allocatable: deliveries wait
	lookups     *lookupStmts
	inlineMax   int                // see Options.InlineMax; <= 0 = files only
	buffers     sync.Pool          // *[]byte of capacity inlineMax, for inline bodies being written
	readBuffers readBufferPool     // for inline bodies being read
	indexer     *store.TextIndexer // nil without Options.TextIndexer
	sweeper     *sweeper           // nil without Options.SweepEvery
}

var _ store.Store = (*Store)(nil)

const (
	dbFile = "pochta.db"
	// busyTimeout bounds how long a write waits for another process's write
	// transaction before failing with ErrTemporary.
	busyTimeout = 10 * time.Second
	// orphanAge is how old an unreferenced body file must be before the sweep
	// at Open removes it: younger files may belong to a delivery still in
	// progress in another process.
	orphanAge = time.Hour
	// readers is the size of the reader pool.
	readers = 8
	// readerMmap is how much of the database the readers map (address
	// space, not memory: the pages are the kernel's page cache).
	readerMmap = 1 << 30
	// defaultMaxBatch is how many concurrent deliveries share one commit.
	defaultMaxBatch = 64
)

// Open opens (creating on first use) the engine in dir: dir/pochta.db and
// dir/messages/. It applies pending schema migrations and removes orphan
// body files older than an hour.
func Open(ctx context.Context, dir string, o Options) (*Store, error) {
	return open(ctx, dir, o, defaultMaxBatch)
}

// open is Open with the group-commit batch size exposed for benchmarks
// (maxBatch 1 disables group commit).
func open(ctx context.Context, dir string, o Options, maxBatch int) (*Store, error) {
	if strings.ContainsRune(dir, '?') {
		// The driver splits its DSN at '?'.
		return nil, fmt.Errorf("sqlite: data directory %q contains '?': %w", dir, store.ErrInvalid)
	}
	s := &Store{dir: dir, log: o.Logger, now: o.Now, inlineMax: o.InlineMax, reserve: o.Reserve}
	if s.reserve == 0 {
		s.reserve = DefaultReserve
	}
	switch {
	case s.inlineMax == 0:
		s.inlineMax = DefaultInlineMax
	case s.inlineMax < 0:
		s.inlineMax = 0
	}
	s.buffers.New = func() any {
		b := make([]byte, 0, s.inlineMax)
		return &b
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := makeBodyDirs(dir); err != nil {
		return nil, temporary("creating data directory", err)
	}
	path := filepath.Join(dir, dbFile)
	params := url.Values{}
	params.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	params.Add("_pragma", "journal_mode(WAL)")
	params.Add("_pragma", "synchronous(FULL)")
	params.Add("_pragma", "foreign_keys(1)")
	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails half-way when it upgrades from reading to writing.
	params.Set("_txlock", "immediate")
	var err error
	if s.writer, err = sql.Open("sqlite", path+"?"+params.Encode()); err != nil {
		return nil, temporary("opening database", err)
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetConnMaxIdleTime(0)
	params.Set("_txlock", "deferred")
	params.Add("_pragma", "query_only(1)")
	// Readers map the database instead of copying each page they need
	// with pread(2) into a cache of their own (8 readers, 8 caches): a
	// RETR of an inline body reads its overflow pages straight from the
	// mapping. Pages still in the WAL are read as before.
	params.Add("_pragma", fmt.Sprintf("mmap_size(%d)", readerMmap))
	if s.reader, err = sql.Open("sqlite", path+"?"+params.Encode()); err != nil {
		s.writer.Close()
		return nil, temporary("opening database", err)
	}
	s.reader.SetMaxOpenConns(readers)
	// Keep every reader open when idle: database/sql keeps only 2 by
	// default, and a reopened connection parses the schema and prepares
	// its statements again (15% of the CPU under 8 RETR clients).
	s.reader.SetMaxIdleConns(readers)
	s.raw = newRawPool(path, readers)
	if err := migrate(ctx, s.writer); err != nil {
		s.closeDBs()
		return nil, err
	}
	if o.KeepExpunged != 0 {
		if _, err := s.writer.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'keep_expunged'`,
			max(o.KeepExpunged, 0)); err != nil {
			s.closeDBs()
			return nil, temporary("setting keep_expunged", err)
		}
	}
	exclusive, err := s.lockUsers()
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	// From here on a failure also lets go of the users' lock, which a
	// retried Open in this process would otherwise find held.
	fail := func(err error) (*Store, error) {
		s.closeDBs()
		s.usersLock.Close()
		return nil, err
	}
	err = s.sweepOrphans(ctx, exclusive, o.Recover && exclusive)
	if exclusive {
		// Back to sharing: a delivery of ours may now write files that
		// another opener must not take for orphans.
		if lerr := unix.Flock(int(s.usersLock.Fd()), unix.LOCK_SH); lerr != nil && err == nil {
			err = lerr
		}
	}
	if err != nil {
		// A failed sweep only leaves garbage behind; the store works.
		s.log.Warn("sweeping orphan message files", "err", err)
	}
	if err := s.prepareWriter(ctx); err != nil {
		return fail(err)
	}
	stmts, err := prepareDeliver(ctx, s.writer)
	if err != nil {
		return fail(err)
	}
	if s.lookups, err = prepareLookups(ctx, s.reader); err != nil {
		stmts.close()
		return fail(err)
	}
	if err := s.locks.open(dir); err != nil {
		stmts.close()
		return fail(err)
	}
	s.ensureReserve()
	s.commits = startCommitter(s, stmts, maxBatch)
	s.deletes.s = s
	s.watch = startWatcher(s, o.PollInterval)
	if o.TextIndexer {
		// Batches stay small: a batch holds SQLite's one write lock.
		s.indexer = store.StartTextIndexer(s.IndexText, store.TextIndexBatch, s.log)
	}
	s.sweeper = startSweeper(s, o.SweepEvery)
	return s, nil
}

// Close stops the engine. Open maildrops must be closed first. It is safe to
// call more than once.
func (s *Store) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.indexer.Stop()
		s.sweeper.stop()
		s.watch.stop()
		s.commits.stop()
		err = s.closeDBs()
		s.locks.close()
		if s.usersLock != nil {
			s.usersLock.Close()
		}
	})
	return err
}

// usersLockFile is flocked by every process that has the store open:
// shared while it works, exclusive while it recovers orphan files at Open.
// A process that gets it exclusively knows no other one may be between
// writing a body file and committing its row, so every unreferenced file
// is an orphan. The kernel drops the lock of a killed process.
const usersLockFile = "store.lock"

// lockUsers takes the users' lock: exclusively if no other process holds
// it (reported true), else shared, waiting for a recovering opener.
func (s *Store) lockUsers() (exclusive bool, err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, usersLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, temporary("opening "+usersLockFile, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		s.usersLock = f
		return true, nil
	} else if !errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return false, temporary("locking "+usersLockFile, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH); err != nil {
		f.Close()
		return false, temporary("locking "+usersLockFile, err)
	}
	s.usersLock = f
	return false, nil
}

func (s *Store) closeDBs() error {
	var err error
	if s.lookups != nil {
		err = s.lookups.close()
	}
	if s.raw != nil {
		s.raw.close()
	}
	return errors.Join(err, s.reader.Close(), s.writer.Close())
}

// temporary wraps a disk or database failure as store.ErrTemporary.
func temporary(what string, err error) error {
	return fmt.Errorf("sqlite: %s: %w: %w", what, store.ErrTemporary, err)
}

// dbError maps a database error: constraint violations of unique keys
// become store.ErrExists, everything else store.ErrTemporary.
func dbError(what string, err error) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlite: %s: %w", what, store.ErrExists)
	}
	return temporary(what, err)
}

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Timestamps are stored as Unix microseconds: exact enough for mail and the
// same precision PostgreSQL keeps, so both engines round alike.
func toDB(t time.Time) int64 { return t.UnixMicro() }

func fromDB(us int64) time.Time { return time.UnixMicro(us) }

// withTx runs fn in a write transaction and commits it.
func (s *Store) withTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return temporary(what, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return temporary(what, err)
	}
	return nil
}
