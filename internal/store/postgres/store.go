// Package postgres is Pochta's cluster storage engine: metadata and
// message bodies in one PostgreSQL database that several `pochta serve`
// nodes share, so a node keeps nothing on its own disk and any node serves
// any user. It implements store.Store with jackc/pgx v5.
//
// Cross-node rules, each written where it is implemented:
//   - UIDs and mod-sequences come from the mailbox row inside the writing
//     transaction (UPDATE ... RETURNING), so commit order is allocation
//     order on every node (messages.go, deliver.go).
//   - Bodies are stored in 256 KiB chunks (bodies.go): a POP3 TOP or a
//     partial FETCH reads the chunks it needs; nothing holds a whole body
//     in memory.
//   - The POP3 maildrop lock is a lease row renewed by its node, fenced at
//     every write (maildrop.go).
//   - Changes travel between nodes by LISTEN/NOTIFY, sent inside the
//     transaction that made them (events.go).
//   - The outbound queue is claimed with FOR UPDATE SKIP LOCKED and
//     leases (queue.go).
//   - Each node caches the lookups a delivery makes (domains, accounts,
//     aliases, active Sieve scripts), dropped by NOTIFYs that triggers
//     send when a row changes, and wholly when the listener loses its
//     connection (cache.go).
//
// Durability is PostgreSQL's: a method that returns nil has committed,
// and with the server's default synchronous_commit the commit is on disk.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pochta-mail/pochta/internal/store"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	Logger *slog.Logger     // nil discards logs
	Now    func() time.Time // nil means time.Now
	// Schema, when not empty, is the PostgreSQL schema the engine keeps
	// its tables in (created if missing); otherwise the DSN's search_path
	// decides (normally "public"). Nodes of one installation use the same.
	Schema string
	// MaxConns bounds the connection pool (0 = 16). Each node also keeps
	// one connection of its own for LISTEN.
	MaxConns int32
	// LockLease is how long a POP3 maildrop lock outlives its node (0 =
	// DefaultLockLease); the node renews it every third of that.
	LockLease time.Duration
	// KeepExpunged, when not 0, sets how many expunge tombstones each
	// mailbox keeps for QRESYNC (migration 2; negative: none), for every
	// node; 0 leaves the stored value (10,000 unless set), as the SQLite
	// engine's option of that name.
	KeepExpunged int
	// TextIndexer runs this node's background text indexer
	// (store.TextIndexer), as the SQLite engine's option of that name;
	// every node may run one.
	TextIndexer bool
}

// DefaultLockLease bounds how long a maildrop stays locked after the node
// holding it died (issue 11 asks for at most 30 s).
const DefaultLockLease = 30 * time.Second

// Store is the PostgreSQL engine. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	node    string // this handle's id in NOTIFY payloads and lock owners
	schema  string
	events  store.Bus
	listen  *listener
	locks   *leases
	commits *committer
	snaps   store.SnapshotCache // snapshots of large maildrops kept between sessions
	cache   *dirCache
	indexer *store.TextIndexer // nil without Options.TextIndexer
	// chunkMax bounds a text_postings chunk: postingChunkMax (smaller
	// in tests, to see terms span chunks).
	chunkMax int

	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a libpq URL or key=value
// string), applies pending migrations and starts the node's event
// listener and lock renewer.
func Open(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: DSN: %w: %w", store.ErrInvalid, err)
	}
	s := &Store{log: o.Logger, now: o.Now, schema: o.Schema, cache: newDirCache(maxCached), chunkMax: postingChunkMax}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	var id [8]byte
	rand.Read(id[:])
	s.node = hex.EncodeToString(id[:])
	cfg.MaxConns = o.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 16
	}
	if s.schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = s.schema
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "pochta"
	cfg.AfterConnect = raiseTrimThreshold
	if s.schema != "" {
		if err := createSchema(ctx, cfg.ConnConfig, s.schema); err != nil {
			return nil, err
		}
	}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, temporary("connecting", err)
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, err
	}
	if o.KeepExpunged != 0 {
		if _, err := s.pool.Exec(ctx, `UPDATE meta SET value = $1 WHERE key = 'keep_expunged'`, max(o.KeepExpunged, 0)); err != nil {
			s.pool.Close()
			return nil, temporary("setting keep_expunged", err)
		}
	}
	if s.schema == "" {
		if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&s.schema); err != nil {
			s.pool.Close()
			return nil, temporary("reading schema", err)
		}
	}
	lease := o.LockLease
	if lease <= 0 {
		lease = DefaultLockLease
	}
	s.locks = startLeases(s, lease)
	s.listen = startListener(s, cfg.ConnConfig)
	s.commits = startCommitter(s)
	if o.TextIndexer {
		s.indexer = store.StartTextIndexer(s.IndexText, textIndexBatch, s.log)
	}
	return s, nil
}

// raiseTrimThreshold has a new connection's backend allocate and free one
// megabyte. Reading a body, a backend allocates its chunk (up to 256 KiB)
// two or three times over with malloc and frees it at the end of the row;
// glibc gives the top of the heap back to the system whenever more than
// its trim threshold (128 KiB at first) is free there, so every row of a
// POP3 download or an IMAP FETCH grew the heap again and faulted its pages
// in (page faults and brk were an eighth of the backend's CPU per RETR).
// Freeing a block that malloc mapped on its own (one over its mmap
// threshold, as this megabyte) raises the mmap threshold to that size and
// the trim threshold to twice it, so a backend keeps up to 2 MiB of freed
// heap instead. On a server without glibc's dynamic thresholds it changes
// nothing but costs one statement per connection.
func raiseTrimThreshold(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, `SELECT length(repeat('x', 1 << 20))`)
	return err
}

// createSchema creates the configured schema unless it exists, on a
// connection of its own (the pool's connections use it as search_path).
func createSchema(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	cc = cc.Copy()
	delete(cc.RuntimeParams, "search_path")
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return temporary("connecting", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{schema}.Sanitize()); err != nil {
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "23505" { // a concurrent creator won
			return temporary("creating schema", err)
		}
	}
	return nil
}

// Close stops the engine. Open maildrops must be closed first. It is safe
// to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.indexer.Stop()
		s.commits.stop()
		s.listen.stop()
		s.locks.stop()
		s.pool.Close()
	})
	return nil
}

// Node returns this handle's random id (lock owners and event payloads
// carry it; logs may too).
func (s *Store) Node() string { return s.node }

// temporary wraps a database failure as store.ErrTemporary.
func temporary(what string, err error) error {
	return fmt.Errorf("postgres: %s: %w: %w", what, store.ErrTemporary, err)
}

// PostgreSQL error codes the engine maps.
const (
	codeUnique     = "23505"
	codeForeignKey = "23503"
	codeDeadlock   = "40P01"
	codeSerialize  = "40001"
)

func errCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool     { return errCode(err) == codeUnique }
func isForeignKeyViolation(err error) bool { return errCode(err) == codeForeignKey }

// retryable reports a transaction PostgreSQL aborted to break a deadlock
// or a serialization conflict: running it again is safe.
func retryable(err error) bool {
	c := errCode(err)
	return c == codeDeadlock || c == codeSerialize
}

// dbError maps a database error: unique violations become
// store.ErrExists, everything else store.ErrTemporary.
func dbError(what string, err error) error {
	if isUniqueViolation(err) {
		return fmt.Errorf("postgres: %s: %w", what, store.ErrExists)
	}
	return temporary(what, err)
}

// notFound formats an ErrNotFound.
func notFound(format string, args ...any) error {
	return fmt.Errorf("postgres: "+format+": %w", append(args, store.ErrNotFound)...)
}

// tx is a write transaction with the events its changes publish.
type tx struct {
	pgx.Tx
	events []store.Event
}

// event records a change: NOTIFY to the other nodes at commit, Publish to
// this node's subscribers after it.
func (t *tx) event(e store.Event) { t.events = append(t.events, e) }

// maxAttempts bounds how often withTx runs a transaction PostgreSQL
// aborted for a deadlock or serialization failure.
const maxAttempts = 5

// withTx runs fn in a transaction and commits it, sending its events to
// the other nodes inside it (NOTIFY is delivered only at commit, so a
// rolled-back change notifies nobody) and to this node's subscribers
// after. A deadlock victim runs again: fn must be safe to repeat.
func (s *Store) withTx(ctx context.Context, what string, fn func(t *tx) error) error {
	var err error
	for range maxAttempts {
		if err = s.runTx(ctx, what, fn); err == nil || !retryable(err) {
			return err
		}
	}
	return err
}

func (s *Store) runTx(ctx context.Context, what string, fn func(t *tx) error) error {
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return temporary(what, err)
	}
	t := &tx{Tx: ptx}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	if err := fn(t); err != nil {
		return err
	}
	if err := s.notify(ctx, t); err != nil {
		return temporary(what, err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return temporary(what, err)
	}
	for _, e := range t.events {
		if e.Kind == store.EventNew {
			s.indexer.Wake()
		}
		s.publishLocal(e)
	}
	return nil
}

// scanStrings reads one string column.
func scanStrings(rows pgx.Rows) ([]string, error) {
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// nullTime turns a zero time into NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// micro cuts t to the microseconds pgx sends PostgreSQL (it truncates),
// so what a method returns equals what a later read returns.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
