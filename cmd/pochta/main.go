// Command pochta is the Pochta mail server and its admin tool. This package
// is the command line only: it parses flags, loads the configuration and
// wires packages together; protocol and storage logic live in internal/.
//
// Exit codes follow sysexits(3) where a mail system reads them (see
// docs/CLI.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `usage: pochta [-d DIR] COMMAND [ARGS]

Commands:
  init -d DIR [--domain D] [--hostname H] [--local] [--postgres DSN]
                                            create DIR: config, TLS certificate, database
  domain add NAME... | del NAME | list      manage mail domains
  user add ADDRESS [--password-stdin] [--legacy-auth]
  user passwd ADDRESS [--password-stdin] [--legacy-auth]
  user del ADDRESS | list [DOMAIN]          manage accounts
  user quota ADDRESS SIZE|none              set a mailbox quota (e.g. 500MiB)
  user import FILE [--domain D] [--dry-run] create users from a Dovecot passwd-file or CSV,
                                            keeping their password hashes
  alias add ALIAS TARGET... | del ALIAS [TARGET...] | list [DOMAIN]
                                            aliases; ALIAS @domain is a catch-all
  sieve put USER NAME [--activate] < SCRIPT | get USER NAME | list USER
  sieve activate USER NAME | deactivate USER | delete|del USER NAME | check < SCRIPT
                                            users' Sieve filters (docs/SIEVE.md)
  sieve run USER [--mailbox M] [--apply]    filter stored mail again (dry run by default)
  queue list | show ID | retry ID|all | drop ID
                                            the outbound queue
  dkim keygen DOMAIN [--algo rsa|ed25519] [--selector S]
                                            make a DKIM key, print its DNS record
  dns DOMAIN                                print the DNS records a domain needs
  fetch add ADDRESS URL [--password-stdin] [--delete] [--interval D]
  fetch list [ADDRESS] | show ID | run [ID...] | del ID
                                            fetch remote POP3/IMAP accounts (URL: pop3s://user@host/,
                                            imaps://user@host/INBOX, imap://user@host/?starttls&all)
  deliver [-f SENDER] [--uidl X] RCPT... < MESSAGE
                                            local delivery agent (exit 0 = stored durably)
  import ADDRESS PATH [--dry-run] [--pop3-uidl-format F] [--folder NAME] [--sieve]
  import --all ROOT [--dry-run] [--sieve]   import Maildir (Dovecot, Courier) or mbox mail,
                                            keeping UIDs, POP3 UIDLs and flags (docs/MIGRATION.md);
                                            --sieve: filter what went into INBOX with the active script
  export ADDRESS PATH | --all ROOT [--format maildir|mbox]
                                            write an account as a Maildir++ tree with
                                            dovecot-uidlist, or mbox files (UIDs and UIDLs kept)
  backup PATH                               a consistent snapshot (database and message files),
                                            also while serve runs
  restore PATH [--replace]                  put a backup back (serve stopped)
  migrate --to postgres DSN                 copy a SQLite installation into an empty PostgreSQL
                                            database, keeping every UID and UIDL (serve stopped)
  serve [-o key=value]...                   run the servers in the foreground
  version                                   print the version

-d DIR (the installation directory) may appear before or after COMMAND;
it defaults to $POCHTA_DIR. See docs/CLI.md and docs/CONFIG.md.
`

// env is what a command may touch of the outside world: passed in, so the
// commands never read globals.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, e env) int {
	err := dispatch(ctx, args, e)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(e.stdout, usageText)
		return exitOK
	}
	fmt.Fprintln(e.stderr, "pochta:", err)
	return exitCode(err)
}

func dispatch(ctx context.Context, args []string, e env) error {
	global := newFlags("pochta", e)
	dir := global.String("d", e.getenv("POCHTA_DIR"), "installation `DIR`ectory")
	if err := global.Parse(args); err != nil {
		return flagError(global, err)
	}
	rest := global.Args()
	if len(rest) == 0 {
		fmt.Fprint(e.stderr, usageText)
		return usageErr(errors.New("no command"))
	}
	cmd, rest := rest[0], rest[1:]
	c := &cli{ctx: ctx, env: e, dir: *dir}
	switch cmd {
	case "init":
		return c.initCmd(rest)
	case "domain":
		return c.domainCmd(rest)
	case "user":
		return c.userCmd(rest)
	case "alias":
		return c.aliasCmd(rest)
	case "sieve":
		return c.sieveCmd(rest)
	case "queue":
		return c.queueCmd(rest)
	case "dkim":
		return c.dkimCmd(rest)
	case "dns":
		return c.dnsCmd(rest)
	case "deliver":
		return c.deliverCmd(rest)
	case "import":
		return c.importCmd(rest)
	case "export":
		return c.exportCmd(rest)
	case "backup":
		return c.backupCmd(rest)
	case "restore":
		return c.restoreCmd(rest)
	case "migrate":
		return c.migrateCmd(rest)
	case "fetch":
		return c.fetchCmd(rest)
	case "serve":
		return c.serveCmd(rest)
	case "version":
		fmt.Fprintln(e.stdout, "pochta", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	return usageErr(fmt.Errorf("unknown command %q (see pochta help)", cmd))
}

// cli carries what every command needs.
type cli struct {
	ctx context.Context
	env
	dir string
}
