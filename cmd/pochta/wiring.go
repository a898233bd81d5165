package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// loadConfig loads DIR/pochta.toml; its errors exit with EX_CONFIG.
func (c *cli) loadConfig(dir string, overrides []string) (*config.Config, error) {
	if err := c.requireDir(dir); err != nil {
		return nil, err
	}
	cfg, err := config.Load(dir, overrides)
	return cfg, withCode(exitConfig, err)
}

// newLogger writes logs to stderr at the configured level, as text
// (key=value) or JSON lines.
func (c *cli) newLogger(level, format string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(c.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(c.stderr, opts))
}

// adminLogger is for the short-lived admin commands: only problems.
func (c *cli) adminLogger() *slog.Logger {
	return c.newLogger("warn", "text")
}

// openStore opens the storage engine of the installation: SQLite in DIR
// itself (DIR/pochta.db, DIR/messages/), or the PostgreSQL database of
// store.postgres_dsn.
func (c *cli) openStore(cfg *config.Config, log *slog.Logger) (store.Store, error) {
	return c.openEngine(cfg, log, false)
}

// openStoreRecovering is openStore for serve's start: with no other
// process in a SQLite store, every body file a crash left without a row
// is removed at once (logged with their count and size). PostgreSQL
// keeps bodies in the transaction that references them: nothing to
// recover. The store runs its background text indexer
// (store.TextIndexer), which also indexes at start what a crash or an
// older version left unindexed.
func (c *cli) openStoreRecovering(cfg *config.Config, log *slog.Logger) (store.Store, error) {
	return c.openEngine(cfg, log, true)
}

func (c *cli) openEngine(cfg *config.Config, log *slog.Logger, serve bool) (store.Store, error) {
	if cfg.Store.Engine == config.EnginePostgres {
		st, err := postgres.Open(c.ctx, cfg.Store.PostgresDSN, postgres.Options{Logger: log, LockLease: cfg.Store.LockLease.D(),
			TextIndexer: serve})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return st, nil
	}
	o := sqlite.Options{Logger: log, Recover: serve, TextIndexer: serve}
	if serve {
		o.SweepEvery = time.Hour // the sweep's own pace: it runs at most hourly anyway
	}
	st, err := sqlite.Open(c.ctx, cfg.Dir, o)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func newAuth(cfg *config.Config, st store.Directory, log *slog.Logger) *auth.Service {
	return auth.New(auth.Options{
		Directory:     st,
		Logger:        log,
		CacheTTL:      cfg.Auth.CacheTTL.D(),
		DefaultDomain: cfg.Auth.DefaultDomain,
		Separators:    cfg.Auth.LoginSeparators,
		Legacy:        cfg.Auth.Legacy,
		HashMemory:    int64(cfg.Auth.HashMemory),
	})
}

// newResolver resolves recipients the same way for SMTP and deliver.
func newResolver(cfg *config.Config, st delivery.Directory) *delivery.Resolver {
	return &delivery.Resolver{Dir: st, Delimiters: cfg.Delivery.RecipientDelimiter}
}

// adminStore loads the configuration and opens the store, for the admin
// commands; the caller closes the store.
func (c *cli) adminStore(dir string) (*config.Config, store.Store, error) {
	cfg, err := c.loadConfig(dir, nil)
	if err != nil {
		return nil, nil, err
	}
	st, err := c.openStore(cfg, c.adminLogger())
	return cfg, st, err
}

// newDeliverer is the one delivery path of SMTP, `pochta deliver` and the
// fetcher: the filter step runs each recipient's active Sieve script,
// redirects and vacation replies go through the outbound queue.
func newDeliverer(cfg *config.Config, st store.Store, log *slog.Logger) (*delivery.Deliverer, error) {
	before, err := sieveBefore(cfg)
	if err != nil {
		return nil, err
	}
	return &delivery.Deliverer{
		Store: st, Hostname: hostname(cfg),
		Filter:      &delivery.SieveFilter{Store: st, Hostname: hostname(cfg), Before: before},
		PlusFolders: cfg.Delivery.PlusFolders, Delimiters: cfg.Delivery.RecipientDelimiter,
		Resolver: newResolver(cfg, st), Replies: st, Duplicates: st, Marks: st, Logger: log,
	}, nil
}

// sieveBefore compiles delivery.sieve_before (nil when unset).
func sieveBefore(cfg *config.Config) (*sieve.Program, error) {
	if cfg.Delivery.SieveBefore == "" {
		return nil, nil
	}
	src, err := os.ReadFile(cfg.Path(cfg.Delivery.SieveBefore))
	if err == nil {
		var p *sieve.Program
		if p, err = sieve.Compile(string(src), sieve.Limits{}); err == nil {
			return p, nil
		}
	}
	return nil, withCode(exitConfig, &config.KeyError{Key: "delivery.sieve_before", Err: err})
}
