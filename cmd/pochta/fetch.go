package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/fetch"
	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/store"
)

const fetchUsage = "usage: pochta fetch add ADDRESS URL [--password-stdin] [--delete] [--interval D] | list [ADDRESS] | show ID | run [ID...] | del ID"

func (c *cli) fetchCmd(args []string) error {
	fs := newFlags("fetch", c.env)
	dir := c.dirFlag(fs)
	fromStdin := fs.Bool("password-stdin", false, "read the remote password from the first line of standard input")
	del := fs.Bool("delete", false, "delete messages on the source once they are stored here (default: keep them there)")
	interval := fs.Duration("interval", 0, "poll interval of this source (default: fetch.interval; at least 1m)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("%s", fetchUsage)
	}
	sub, operands := rest[0], rest[1:]
	if sub == "remove" {
		sub = "del"
	}
	var ids []int64
	switch {
	case sub == "add" && len(operands) == 2, sub == "list" && len(operands) <= 1:
	case (sub == "show" || sub == "del") && len(operands) == 1, sub == "run":
		for _, o := range operands {
			id, err := strconv.ParseInt(o, 10, 64)
			if err != nil || id <= 0 {
				return usagef("fetch %s: %q is not a source id (see pochta fetch list)", sub, o)
			}
			ids = append(ids, id)
		}
	default:
		return usagef("%s", fetchUsage)
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &admin.Service{Store: st, FetchSources: st}

	switch sub {
	case "add":
		if _, err := svc.User(c.ctx, operands[0]); err != nil { // before asking for a password
			return err
		}
		if _, err := fetch.ParseURL(operands[1]); err != nil {
			return usageErr(err)
		}
		password, err := c.readPassword(*fromStdin)
		if err != nil {
			return err
		}
		secrets, err := fetch.LoadSecrets(filepath.Join(cfg.Dir, fetch.KeyFile), true)
		if err != nil {
			return err
		}
		src, err := svc.AddFetchSource(c.ctx, admin.NewFetchSource{Address: operands[0], URL: operands[1],
			Password: password, Seal: secrets.Seal, Delete: *del, Interval: *interval})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "fetch source %d added: %s into %s\n", src.ID, src.URL, src.Account)
		return nil
	case "list":
		address := ""
		if len(operands) == 1 {
			address = operands[0]
		}
		srcs, err := svc.ListFetchSources(c.ctx, address)
		if err != nil {
			return err
		}
		for _, s := range srcs {
			fmt.Fprintf(c.stdout, "%d %s %s %s last_run=%s fetched=%d%s\n", s.ID, s.Account, s.URL, policy(s),
				timeText(s.LastRun), s.Fetched, errText(s))
		}
		return nil
	case "show":
		s, err := svc.FetchSource(c.ctx, ids[0])
		if err != nil {
			return err
		}
		interval := "default (fetch.interval " + cfg.Fetch.Interval.D().String() + ")"
		if s.Interval != 0 {
			interval = s.Interval.String()
		}
		fmt.Fprintf(c.stdout, "id: %d\naccount: %s\nurl: %s\npolicy: %s\ninterval: %s\ncreated: %s\nlast run: %s\nfetched: %d\nfailures in a row: %d\nlast error: %s\n",
			s.ID, s.Account, s.URL, policy(s), interval, timeText(s.Created), timeText(s.LastRun), s.Fetched, s.Failures,
			orNone(s.LastError))
		return nil
	case "del":
		if err := svc.DeleteFetchSource(c.ctx, ids[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "fetch source %d deleted (the messages it fetched stay)\n", ids[0])
		return nil
	}
	return c.fetchRun(cfg, st, svc, ids)
}

// fetchRun runs the given sources (all when none) once, now, and says
// what each did. It fails when any of them failed.
func (c *cli) fetchRun(cfg *config.Config, st store.Store, svc *admin.Service, ids []int64) error {
	var srcs []store.FetchSource
	if len(ids) == 0 {
		all, err := svc.ListFetchSources(c.ctx, "")
		if err != nil {
			return err
		}
		srcs = all
	}
	for _, id := range ids {
		s, err := svc.FetchSource(c.ctx, id)
		if err != nil {
			return err
		}
		srcs = append(srcs, s)
	}
	f, err := newFetcher(cfg, st, nil, c.adminLogger())
	if err != nil {
		return err
	}
	failed := 0
	for _, s := range srcs {
		res, err := f.RunOnce(c.ctx, s)
		if err != nil {
			failed++
			fmt.Fprintf(c.stdout, "%d %s: failed after %d fetched: %v\n", s.ID, s.URL, res.Fetched, err)
			continue
		}
		fmt.Fprintf(c.stdout, "%d %s: %d fetched, %d skipped (too large), %d deleted on the source\n",
			s.ID, s.URL, res.Fetched, res.Skipped, res.Deleted)
	}
	if failed > 0 {
		return fmt.Errorf("fetch run: %d of %d sources failed", failed, len(srcs))
	}
	return nil
}

// newFetcher builds the fetcher from the configuration; m may be nil.
func newFetcher(cfg *config.Config, st store.Store, m *metrics.Metrics, log *slog.Logger) (*fetch.Fetcher, error) {
	d, err := newDeliverer(cfg, st, log)
	if err != nil {
		return nil, err
	}
	f := &fetch.Fetcher{
		Store:          st,
		Deliverer:      d,
		Logger:         log,
		Hostname:       hostname(cfg),
		Interval:       cfg.Fetch.Interval.D(),
		MaxMessageSize: int64(cfg.Limits.MaxMessageSize),
		Timeout:        cfg.Fetch.Timeout.D(),
		NoIdle:         !cfg.Fetch.IDLE,
	}
	if m != nil { // a nil *metrics.Metrics must not become a non-nil interface
		f.Metrics = m
	}
	secrets, err := fetch.LoadSecrets(filepath.Join(cfg.Dir, fetch.KeyFile), false)
	switch {
	case err == nil:
		f.Secrets = secrets
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	roots, err := caFile(cfg, "fetch.tls_ca_file", cfg.Fetch.TLSCAFile)
	if err != nil {
		return nil, err
	}
	if roots != nil {
		f.TLSConfig = &tls.Config{RootCAs: roots}
	}
	return f, nil
}

func policy(s store.FetchSource) string {
	if s.Delete {
		return "delete"
	}
	return "keep"
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func errText(s store.FetchSource) string {
	if s.LastError == "" {
		return ""
	}
	return fmt.Sprintf(" failures=%d last_error=%q", s.Failures, s.LastError)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
