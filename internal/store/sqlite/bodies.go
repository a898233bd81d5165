package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pochta-mail/pochta/internal/message"
)

// Body files live in dir/messages/XX/NAME, where NAME is 32 random hex
// digits and XX its first two: 256 shards keep directories small. A file is
// written once, under its final name, and never modified. Until a committed
// messages row names it, it is an orphan that the sweep at Open removes
// once it is old enough.

const bodiesDir = "messages"

// makeBodyDirs creates dir/messages and its 256 shards (idempotent) and
// fsyncs the directories it created entries in, so a later body file's
// directory entry has a durable path.
func makeBodyDirs(dir string) error {
	root := filepath.Join(dir, bodiesDir)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	for i := range 256 {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprintf("%02x", i)), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return errors.Join(syncDir(root), syncDir(dir))
}

func (s *Store) bodyPath(name string) string {
	return filepath.Join(s.dir, bodiesDir, name[:2], name)
}

// storedBody describes a body file written by writeBody.
type storedBody struct {
	name     string
	size     int64
	dotLines bool
}

// readError marks a failure of the caller's reader, which is not an engine
// failure and so not store.ErrTemporary.
type readError struct{ err error }

func (e readError) Error() string { return "sqlite: reading message: " + e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// writeBody streams r into a new body file, normalising line endings, and
// makes the file and its directory entry durable. On error no file remains.
func (s *Store) writeBody(r io.Reader) (storedBody, error) {
	var random [16]byte
	rand.Read(random[:])
	b := storedBody{name: hex.EncodeToString(random[:])}
	path := s.bodyPath(b.name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return b, temporary("creating message file", err)
	}
	err = copyNormalised(f, r, &b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		var re readError
		if errors.As(err, &re) {
			return b, err
		}
		return b, temporary("writing message file", err)
	}
	return b, nil
}

// copyNormalised copies r to f through a CRLF normaliser, telling read
// errors (the caller's) from write errors (ours).
func copyNormalised(f *os.File, r io.Reader, b *storedBody) error {
	w := message.NewCRLFWriter(f)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return readError{rerr}
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	b.size, b.dotLines = w.Size(), w.DotLines()
	return nil
}

// removeBodies deletes body files no committed row references any more.
// Failures only leave orphans for the sweep, so they are logged.
func (s *Store) removeBodies(names []string) {
	for _, name := range names {
		if err := os.Remove(s.bodyPath(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing message file", "name", name, "err", err)
		}
	}
}

// sweepOrphans removes body files that no message references and that are
// older than orphanAge: leftovers of a crash between writing a body and
// committing its row, or between a delete's commit and the file removal.
// Younger files are left alone: another process may be delivering them.
//
// The sweep reads every body name, so it runs at most once per orphanAge
// across all processes (the time is kept in the meta table): a short-lived
// `pochta deliver` process per message must not pay for it each time.
func (s *Store) sweepOrphans(ctx context.Context) error {
	due := false
	now := s.now()
	err := s.withTx(ctx, "scheduling sweep", func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'last_sweep'`).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if due = err != nil || now.Sub(fromDB(last)) >= orphanAge || fromDB(last).After(now); !due {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('last_sweep', ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, toDB(now))
		return err
	})
	if err != nil || !due {
		return err
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT DISTINCT body FROM messages`)
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
	removed := 0
	for i := range 256 {
		shard := filepath.Join(root, fmt.Sprintf("%02x", i))
		entries, err := os.ReadDir(shard)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if _, ok := referenced[e.Name()]; ok || !e.Type().IsRegular() {
				continue
			}
			info, err := e.Info()
			if err != nil || !info.ModTime().Before(cutoff) {
				continue
			}
			if err := os.Remove(filepath.Join(shard, e.Name())); err == nil {
				removed++
			}
		}
	}
	if removed > 0 {
		s.log.Info("removed orphan message files", "count", removed)
	}
	return nil
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
