package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/managesieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// sieveCmd: sieve put USER NAME [--activate] < SCRIPT | get USER NAME |
// list USER | activate USER NAME | deactivate USER | delete|del USER NAME |
// check < SCRIPT. The work is managesieve.Scripts', the service behind
// ManageSieve, with the same limits.
func (c *cli) sieveCmd(args []string) error {
	fs := newFlags("sieve", c.env)
	dir := c.dirFlag(fs)
	activate := fs.Bool("activate", false, "put: make the script the active one")
	mailbox := fs.String("mailbox", "INBOX", "run: the `mailbox` whose messages are filtered again")
	apply := fs.Bool("apply", false, "run: file and flag the messages (without it, only report)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	const usage = "usage: pochta sieve put USER NAME [--activate] < SCRIPT | get USER NAME | list USER |\n" +
		"       activate USER NAME | deactivate USER | delete|del USER NAME | check < SCRIPT |\n" +
		"       run USER [--mailbox M] [--apply]"
	if len(rest) == 0 {
		return usagef(usage)
	}
	sub, ops := rest[0], rest[1:]
	if sub == "del" {
		sub = "delete" // the and the other commands' word (alias del, fetch del)
	}
	want := map[string]int{"put": 2, "get": 2, "list": 1, "activate": 2, "deactivate": 1, "delete": 2, "check": 0, "run": 1}
	if n, ok := want[sub]; !ok || len(ops) != n {
		return usagef(usage)
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	scripts := newScripts(cfg, st)
	readScript := func() (string, error) {
		b, err := io.ReadAll(io.LimitReader(c.stdin, int64(cfg.ManageSieve.MaxScriptSize)+1))
		return string(b), err
	}
	if sub == "check" {
		src, err := readScript()
		if err != nil {
			return err
		}
		return sieveError(scripts.Check(src))
	}
	acct, err := (&admin.Service{Store: st}).User(c.ctx, ops[0])
	if err != nil {
		return err
	}
	switch sub {
	case "put":
		src, err := readScript()
		if err != nil {
			return err
		}
		if err := scripts.Put(c.ctx, acct.ID, ops[1], src); err != nil {
			return sieveError(err)
		}
		if *activate {
			return sieveError(scripts.Activate(c.ctx, acct.ID, ops[1]))
		}
		return nil
	case "get":
		sc, err := scripts.Get(c.ctx, acct.ID, ops[1])
		if err != nil {
			return sieveError(err)
		}
		_, err = io.WriteString(c.stdout, sc.Source)
		return err
	case "list":
		list, err := scripts.List(c.ctx, acct.ID)
		if err != nil {
			return err
		}
		for _, sc := range list {
			mark := ""
			if sc.Active {
				mark = " (active)"
			}
			fmt.Fprintf(c.stdout, "%s %d%s\n", sc.Name, sc.Size, mark)
		}
		return nil
	case "activate":
		return sieveError(scripts.Activate(c.ctx, acct.ID, ops[1]))
	case "deactivate":
		return sieveError(scripts.Activate(c.ctx, acct.ID, ""))
	case "run":
		return c.sieveRun(cfg, st, acct, *mailbox, *apply)
	}
	return sieveError(scripts.Delete(c.ctx, acct.ID, ops[1]))
}

// sieveError words a refusal for the operator: the script's problem, not
// a failure of the command (exit 1, with line and column).
func sieveError(err error) error {
	var se *managesieve.Error
	if errors.As(err, &se) {
		return fmt.Errorf("sieve: %s", se.Msg)
	}
	return err
}

// sieveRun applies the account's active script to stored mail: a report
// line per message, and with apply the filing done.
func (c *cli) sieveRun(cfg *config.Config, st store.Store, acct store.Account, mailbox string, apply bool) error {
	if _, err := st.ActiveSieveScript(c.ctx, acct.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sieve: %s has no active script", acct.Address)
	}
	f := &delivery.SieveFilter{Store: st, Hostname: hostname(cfg)}
	n, moved := 0, 0
	err := delivery.Refilter(c.ctx, st, f, acct, delivery.RefilterOptions{Mailbox: mailbox, Apply: apply}, func(r delivery.RefilterResult) error {
		n++
		if r.Moved {
			moved++
		}
		_, err := fmt.Fprintf(c.stdout, "%d %s\n", r.UID, strings.Join(r.Actions, "; "))
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("sieve: mailbox %q of %s does not exist", mailbox, acct.Address)
	} else if err != nil {
		return err
	}
	if apply {
		fmt.Fprintf(c.stdout, "%d messages filtered, %d moved out of %s\n", n, moved, mailbox)
	} else {
		fmt.Fprintf(c.stdout, "%d messages; nothing changed (dry run: --apply files and flags them)\n", n)
	}
	return nil
}
