package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/migrate/exporter"
	"github.com/pochta-mail/pochta/internal/migrate/importer"
	"github.com/pochta-mail/pochta/internal/store"
)

// importCmd: pochta import ADDRESS PATH | --all ROOT.
func (c *cli) importCmd(args []string) error {
	fs := newFlags("import", c.env)
	dir := c.dirFlag(fs)
	all := fs.Bool("all", false, "import ROOT/DOMAIN/USER for every account")
	dry := fs.Bool("dry-run", false, "read everything, store nothing, print what would be imported")
	uidlFormat := fs.String("pop3-uidl-format", importer.DefaultUIDLFormat, "the old server's pop3_uidl_format")
	folder := fs.String("folder", "", "the mailbox an mbox file goes into (default INBOX)")
	filter := fs.Bool("sieve", false, "run each account's active Sieve script over the messages this import put into INBOX")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if (*all && len(rest) != 1) || (!*all && len(rest) != 2) {
		return usagef("usage: pochta import ADDRESS PATH [--dry-run] [--pop3-uidl-format F] [--folder NAME] [--sieve] |\n" +
			"       import --all ROOT [--dry-run] [--sieve]")
	}
	format, err := migrate.ParseUIDLFormat(*uidlFormat)
	if err != nil {
		return usageErr(err)
	}
	if !*all {
		if rest[0], err = admin.Address(rest[0]); err != nil {
			return err
		}
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	p := &progressLine{w: c.stderr, on: isTerminalWriter(c.stderr)}
	svc := &importer.Service{Store: st, Opt: importer.Options{UIDLFormat: format, DryRun: *dry,
		MboxFolder: *folder, Progress: p.show}}
	var filtered []string // a line per account, printed after the summary
	if *filter {
		f := &delivery.SieveFilter{Store: st, Hostname: hostname(cfg)}
		svc.Opt.Imported = func(ctx context.Context, acct store.Account, inbox []uint32) error {
			line, err := importSieve(ctx, st, f, acct, inbox)
			if line != "" {
				filtered = append(filtered, line)
			}
			return err
		}
	}
	start := time.Now()
	var sum importer.Summary
	if *all {
		sum, err = svc.Tree(c.ctx, rest[0])
	} else {
		sum, err = svc.Account(c.ctx, rest[0], rest[1])
	}
	p.clear()
	printSummary(c.stdout, sum, *dry, time.Since(start))
	for _, l := range filtered {
		fmt.Fprintln(c.stdout, l)
	}
	return err
}

// importSieve applies the account's active script to the messages an
// import put into its INBOX, as `pochta sieve run --apply` does (nothing
// is sent), and words the outcome; an account without a script is left
// as imported.
func importSieve(ctx context.Context, st store.Store, f delivery.Filter, acct store.Account, inbox []uint32) (string, error) {
	if len(inbox) == 0 {
		return "", nil // and never UIDs nil: that would filter the whole INBOX
	}
	if _, err := st.ActiveSieveScript(ctx, acct.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("sieve %s: no active script, %d messages left in INBOX", acct.Address, len(inbox)), nil
	} else if err != nil {
		return "", err
	}
	n, moved, failed := 0, 0, 0
	var firstErr error
	err := delivery.Refilter(ctx, st, f, acct, delivery.RefilterOptions{Mailbox: store.InboxName, UIDs: inbox, Apply: true},
		func(r delivery.RefilterResult) error {
			n++
			if r.Moved {
				moved++
			}
			if r.Err != nil {
				failed++
				firstErr = cmp.Or(firstErr, r.Err)
			}
			return nil
		})
	if err != nil {
		return "", fmt.Errorf("sieve: %w", err)
	}
	line := fmt.Sprintf("sieve %s: %d messages filtered, %d moved out of INBOX", acct.Address, n, moved)
	if failed > 0 {
		line += fmt.Sprintf("; the script failed on %d, left in INBOX (first: %v)", failed, firstErr)
	}
	return line, nil
}

func printSummary(w io.Writer, s importer.Summary, dry bool, took time.Duration) {
	verb := "imported"
	if dry {
		verb = "would import (dry run, nothing stored)"
	}
	fmt.Fprintf(w, "%s: %d messages, %d bytes, in %d folders of %d accounts (%s)\n",
		verb, s.Messages, s.Bytes, s.Folders, s.Accounts, took.Round(time.Millisecond))
	if s.Known > 0 {
		fmt.Fprintf(w, "already imported before: %d messages\n", s.Known)
	}
	for _, f := range s.Renumbered {
		fmt.Fprintf(w, "new UIDs (the source had none, or the mailbox already held mail): %s\n", f)
	}
	if len(s.Problems) > 0 {
		fmt.Fprintf(w, "skipped or changed: %d\n", len(s.Problems))
		for _, p := range s.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
}

// progressLine redraws one status line on a terminal; elsewhere it is
// silent, so logs and pipes get only the summary.
type progressLine struct {
	w    io.Writer
	on   bool
	last time.Time
}

func (p *progressLine) show(pr importer.Progress) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond && pr.Done != pr.Total {
		return
	}
	p.last = time.Now()
	total := "?"
	if pr.Total >= 0 {
		total = fmt.Sprint(pr.Total)
	}
	fmt.Fprintf(p.w, "\r\033[K%s %s: %d/%s  (%d messages, %s)", pr.Account, pr.Folder, pr.Done, total, pr.Messages, sizeText(pr.Bytes))
}

func (p *progressLine) clear() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// exportCmd: pochta export ADDRESS PATH | --all ROOT [--format maildir|mbox].
func (c *cli) exportCmd(args []string) error {
	fs := newFlags("export", c.env)
	dir := c.dirFlag(fs)
	all := fs.Bool("all", false, "export every account to ROOT/DOMAIN/USER")
	format := fs.String("format", "maildir", "maildir (with dovecot-uidlist) or mbox (mboxcl2, a file per mailbox)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if (*all && len(rest) != 1) || (!*all && len(rest) != 2) {
		return usagef("usage: pochta export ADDRESS PATH | export --all ROOT [--format maildir|mbox]")
	}
	export := exporter.Maildir
	switch *format {
	case "maildir":
	case "mbox":
		export = exporter.Mbox
	default:
		return usagef("export: format %q is not maildir or mbox", *format)
	}
	if !*all {
		if rest[0], err = admin.Address(rest[0]); err != nil {
			return err
		}
	}
	_, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	var sum exporter.Summary
	accounts := 1
	if *all {
		sum, accounts, err = exporter.All(c.ctx, st, rest[0], export)
	} else {
		sum, err = export(c.ctx, st, rest[0], rest[1])
	}
	fmt.Fprintf(c.stdout, "exported: %d messages, %d bytes, in %d folders of %d accounts (%s)\n", sum.Messages, sum.Bytes,
		sum.Folders, accounts, time.Since(start).Round(time.Millisecond))
	for _, p := range sum.Problems {
		fmt.Fprintf(c.stdout, "  %s\n", p)
	}
	return err
}
