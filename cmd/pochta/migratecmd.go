package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/storecopy"
)

// migrateCmd: pochta -d DIR migrate --to postgres DSN. It copies the SQLite
// installation into an empty PostgreSQL database (storecopy), then points
// DIR/pochta.toml at it. serve must not run meanwhile (the directory lock
// says so); the SQLite files stay, untouched, for going back.
func (c *cli) migrateCmd(args []string) error {
	fs := newFlags("migrate", c.env)
	dir := c.dirFlag(fs)
	to := fs.String("to", "", "the engine to move to: postgres")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *to != config.EnginePostgres || len(rest) != 1 {
		return usagef("usage: pochta -d DIR migrate --to postgres DSN")
	}
	dsn := rest[0]
	cfg, err := c.loadConfig(*dir, nil)
	if err != nil {
		return err
	}
	if cfg.Store.Engine != config.EngineSQLite {
		return fmt.Errorf("migrate: %s already uses store.engine = %q", *dir, cfg.Store.Engine)
	}
	unlock, err := lockDir(cfg.Dir)
	if err != nil {
		return fmt.Errorf("migrate: %w (stop it first)", err)
	}
	defer unlock()
	src, err := c.openStore(cfg, c.adminLogger())
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := postgres.Open(c.ctx, dsn, postgres.Options{Logger: c.adminLogger()})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer dst.Close()
	st, err := storecopy.Copy(c.ctx, src, dst, c.adminLogger())
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := pointConfigAt(cfg.Dir, dsn); err != nil {
		return fmt.Errorf("migrate: copied, but %w; set store.engine = \"postgres\" and store.postgres_dsn yourself", err)
	}
	fmt.Fprintf(c.stdout, "copied %d domains, %d accounts, %d mailboxes, %d messages (%d octets), %d aliases, %d Sieve scripts, %d queued messages\n",
		st.Domains, st.Accounts, st.Mailboxes, st.Messages, st.Octets, st.Aliases, st.Scripts, st.Queued)
	fmt.Fprintf(c.stdout, "%s now uses PostgreSQL; the SQLite files in it are no longer read\n", filepath.Join(cfg.Dir, config.FileName))
	return nil
}

// pointConfigAt sets store.engine and store.postgres_dsn in DIR/pochta.toml,
// keeping every other line: the keys are replaced inside [store], or the
// table is appended. The result is checked before it replaces the file.
func pointConfigAt(dir, dsn string) error {
	path := filepath.Join(dir, config.FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	set := map[string]string{"engine": strconv.Quote(config.EnginePostgres), "postgres_dsn": strconv.Quote(dsn)}
	var out []string
	table, found := "", false
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "[") {
			if table == "store" {
				out = appendMissing(out, set)
			}
			table = strings.Trim(trimmed, "[] ")
			found = found || table == "store"
		}
		if table == "store" {
			key, _, _ := strings.Cut(trimmed, "=")
			if v, ok := set[strings.TrimSpace(key)]; ok {
				line = strings.TrimSpace(key) + " = " + v
				delete(set, strings.TrimSpace(key))
			}
		}
		out = append(out, line)
	}
	if table == "store" {
		out = appendMissing(out, set)
	}
	if !found {
		out = append(out, "", "[store]")
		out = appendMissing(out, set)
	}
	text := strings.Join(out, "\n") + "\n"
	cfg, err := config.Parse(text, nil)
	if err != nil {
		return fmt.Errorf("the new %s would not load: %w", config.FileName, err)
	}
	if cfg.Store.Engine != config.EnginePostgres || cfg.Store.PostgresDSN != dsn {
		return fmt.Errorf("could not rewrite %s", config.FileName)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// appendMissing adds the keys of set not yet written, in a fixed order.
func appendMissing(out []string, set map[string]string) []string {
	for _, k := range []string{"engine", "postgres_dsn"} {
		if v, ok := set[k]; ok {
			out = append(out, k+" = "+v)
			delete(set, k)
		}
	}
	return out
}
