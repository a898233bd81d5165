package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A backup is a consistent snapshot of a store that keeps serving: the
// database copied inside one read transaction (VACUUM INTO), then the body
// files that copy references. Bodies are immutable and never renamed, so
// the only way to miss one is its removal after the snapshot (an expunge,
// or the orphan sweep). A backup holds backupLockFile exclusively from
// before the snapshot until the last file is copied, and every body
// removal first takes it shared without waiting: while a backup runs,
// removals are skipped and the files stay as orphans for a later sweep.
// A removal already running when the backup starts finishes first (the
// backup waits for the lock), and its rows were deleted before the
// snapshot, so the snapshot does not reference its files.

const backupLockFile = "backup.lock"

// allowRemovals takes the backup lock shared without waiting: ok is false
// while a backup runs. release must be called when ok.
func (s *Store) allowRemovals() (release func(), ok bool) {
	f, err := os.OpenFile(filepath.Join(s.dir, backupLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		s.log.Warn("opening the backup lock; message files not removed", "err", err)
		return nil, false
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return func() { f.Close() }, true
}

// BackupResult describes a backup.
type BackupResult struct {
	Files  int   // body files copied (or linked)
	Bytes  int64 // their size
	Linked bool  // hard links: the backup shares the live files' disk blocks
	// Missing are body files the snapshot references that were not
	// there (a store damaged before the backup): their messages are in
	// the backup's database without a body.
	Missing []string
}

// Backup writes a consistent snapshot of the store into dest, which must
// not exist or be empty: dest/pochta.db, dest/messages/ with the body files
// it references, and the installation's other top-level files
// (configuration, certificates, keys). It runs while the store serves;
// deliveries go on, and removals of message files wait until it ends.
func (s *Store) Backup(ctx context.Context, dest string) (BackupResult, error) {
	var res BackupResult
	if err := prepareEmptyDir(dest); err != nil {
		return res, err
	}
	lock, err := os.OpenFile(filepath.Join(s.dir, backupLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return res, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return res, fmt.Errorf("locking %s: %w", backupLockFile, err)
	}
	snapshot := filepath.Join(dest, dbFile)
	// VACUUM INTO reads the database in one transaction: a point in time.
	// It runs on a connection of its own, not the writer's, so deliveries
	// keep committing meanwhile.
	conn, err := sql.Open("sqlite", filepath.Join(s.dir, dbFile)+"?"+url.Values{"_pragma": {
		fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())}}.Encode())
	if err != nil {
		return res, err
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, snapshot)
	conn.Close()
	if err != nil {
		return res, fmt.Errorf("copying the database: %w", err)
	}
	names, err := referencedFiles(ctx, snapshot)
	if err != nil {
		return res, err
	}
	if err := copyBodies(names, s.dir, dest, &res); err != nil {
		return res, err
	}
	if err := copyTopFiles(s.dir, dest, false); err != nil {
		return res, err
	}
	return res, syncTree(dest)
}

// referencedFiles lists the body files (not inline, not empty) a database
// references.
func referencedFiles(ctx context.Context, path string) ([]string, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT body FROM messages WHERE size > 0 UNION SELECT body FROM queue WHERE size > 0
		EXCEPT SELECT name FROM blobs`)
	if err != nil {
		return nil, fmt.Errorf("listing message files: %w", err)
	}
	names, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("listing message files: %w", err)
	}
	return names, nil
}

// Restore puts a backup made by Backup into the data directory dir, which
// no process may have open. An existing database and message files are
// moved aside into dir/before-restore-TIME/ when replace is set, and are
// otherwise a reason to refuse. Configuration files of the backup are
// copied only where dir has none.
func Restore(ctx context.Context, backup, dir string, replace bool) (BackupResult, error) {
	var res BackupResult
	if _, err := os.Stat(filepath.Join(backup, dbFile)); err != nil {
		return res, fmt.Errorf("%s is not a Pochta backup: %w", backup, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return res, err
	}
	users, err := os.OpenFile(filepath.Join(dir, usersLockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return res, err
	}
	defer users.Close()
	if err := unix.Flock(int(users.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return res, fmt.Errorf("%s is in use (is pochta serve running?): stop it before restoring", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); err == nil {
		if !replace {
			return res, fmt.Errorf("%s has a database already: restore with --replace to move it aside", dir)
		}
		aside := filepath.Join(dir, "before-restore-"+time.Now().UTC().Format("20060102T150405"))
		if err := os.Mkdir(aside, 0o700); err != nil {
			return res, err
		}
		for _, name := range []string{dbFile, dbFile + "-wal", dbFile + "-shm", bodiesDir} {
			err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, err
			}
		}
	}
	names, err := referencedFiles(ctx, filepath.Join(backup, dbFile))
	if err != nil {
		return res, err
	}
	if err := copyBodies(names, backup, dir, &res); err != nil {
		return res, err
	}
	if err := makeBodyDirs(dir); err != nil {
		return res, err
	}
	if err := copyTopFiles(backup, dir, true); err != nil {
		return res, err
	}
	// The database last, through a temporary name: a restore that fails
	// half-way leaves no database that lacks its files.
	tmp := filepath.Join(dir, dbFile+".restoring")
	if _, err := copyFile(filepath.Join(backup, dbFile), tmp); err != nil { // never a link: SQLite writes it in place
		return res, err
	}
	if err := syncTree(dir); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dbFile)); err != nil {
		return res, err
	}
	return res, syncDir(dir)
}

// copyBodies links or copies the named body files from the data
// directory src to dst, counting them in res; missing ones are listed.
func copyBodies(names []string, src, dst string, res *BackupResult) error {
	res.Linked = true
	for _, name := range names {
		rel := filepath.Join(bodiesDir, filepath.FromSlash(name))
		n, linked, err := linkOrCopy(filepath.Join(src, rel), filepath.Join(dst, rel))
		if errors.Is(err, fs.ErrNotExist) {
			res.Missing = append(res.Missing, name)
			continue
		}
		if err != nil {
			return err
		}
		res.Files++
		res.Bytes += n
		res.Linked = res.Linked && linked
	}
	return nil
}

// prepareEmptyDir creates dir, or accepts it when it exists and is empty.
func prepareEmptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty: back up into a new directory", dir)
	}
	return nil
}

// linkOrCopy makes dst (and its directory) hold src's contents: a hard
// link when both are on one file system (bodies and backups never change
// in place, so sharing blocks is safe), else a copy.
func linkOrCopy(src, dst string) (int64, bool, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return 0, false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return 0, false, err
	}
	if err := os.Link(src, dst); err == nil {
		return fi.Size(), true, nil
	}
	n, err := copyFile(src, dst)
	return n, false, err
}

// copyFile copies src to a new file dst (not synced: see syncTree).
func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return n, err
}

// copyTopFiles copies the regular files at the top of src (configuration,
// certificates, keys) to dst, except the database and lock files; with
// keep, files dst has already are left alone.
func copyTopFiles(src, dst string, keep bool) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, dbFile) || strings.HasSuffix(name, ".lock") ||
			name == reserveFile {
			continue
		}
		if _, err := os.Stat(filepath.Join(dst, name)); err == nil && keep {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), data, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

// syncTree makes everything written under dir durable: one syncfs(2) of
// its file system instead of an fsync per file.
func syncTree(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
