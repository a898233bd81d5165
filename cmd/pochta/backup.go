package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// backupCmd: pochta backup PATH, while serve runs.
func (c *cli) backupCmd(args []string) error {
	fs := newFlags("backup", c.env)
	dir := c.dirFlag(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: pochta backup PATH")
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	sq, ok := st.(*sqlite.Store)
	if !ok || cfg.Store.Engine == config.EnginePostgres {
		return usagef("backup: the PostgreSQL engine is backed up with PostgreSQL's own tools (pg_dump, base backups)")
	}
	start := time.Now()
	res, err := sq.Backup(c.ctx, rest[0])
	if err != nil {
		return err
	}
	copied, _, err := copyInstallFiles(cfg.Dir, rest[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "backed up to %s: the database and %d message files, %d bytes (%s)\n",
		rest[0], res.Files, res.Bytes, time.Since(start).Round(time.Millisecond))
	if len(copied) > 0 {
		fmt.Fprintf(c.stdout, "with the keys and certificates: %s\n", strings.Join(copied, ", "))
	}
	if res.Linked && res.Files > 0 {
		fmt.Fprintln(c.stdout, "note: the message files are hard links (same file system): copy the backup to another disk to survive losing this one")
	}
	return c.missingFiles(res)
}

// restoreCmd: pochta restore PATH [--replace], with serve stopped.
func (c *cli) restoreCmd(args []string) error {
	fs := newFlags("restore", c.env)
	dir := c.dirFlag(fs)
	replace := fs.Bool("replace", false, "move the current database and messages aside into DIR/before-restore-TIME")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("usage: pochta restore PATH [--replace]")
	}
	if err := c.requireDir(*dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*dir, "pochta.toml")); err == nil {
		cfg, err := c.loadConfig(*dir, nil)
		if err != nil {
			return err
		}
		if cfg.Store.Engine == config.EnginePostgres {
			return usagef("restore: %s uses the PostgreSQL engine; restore it with PostgreSQL's tools", *dir)
		}
	}
	// A new machine's directory may not exist yet.
	if err := os.MkdirAll(*dir, 0o750); err != nil {
		return err
	}
	release, err := lockDir(*dir)
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	res, err := sqlite.Restore(c.ctx, rest[0], *dir, *replace)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "restored %s into %s: the database and %d message files, %d bytes (%s)\n",
		rest[0], *dir, res.Files, res.Bytes, time.Since(start).Round(time.Millisecond))
	copied, kept, err := copyInstallFiles(rest[0], *dir)
	if err != nil {
		return err
	}
	if len(copied) > 0 {
		fmt.Fprintf(c.stdout, "restored the keys and certificates: %s\n", strings.Join(copied, ", "))
	}
	if len(kept) > 0 {
		fmt.Fprintf(c.stdout, "kept the ones already in %s (the backup's are in %s): %s\n", *dir, rest[0], strings.Join(kept, ", "))
	}
	return c.missingFiles(res)
}

func (c *cli) missingFiles(res sqlite.BackupResult) error {
	if len(res.Missing) == 0 {
		return nil
	}
	for _, m := range res.Missing {
		fmt.Fprintf(c.stdout, "missing message file: %s\n", m)
	}
	return fmt.Errorf("%d message files were missing (listed above): their messages have no body", len(res.Missing))
}
