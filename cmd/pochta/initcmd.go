package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// initCmd creates an installation. The config file is written last: its
// presence means "initialised", so a run that failed half-way can simply
// be repeated.
func (c *cli) initCmd(args []string) error {
	fs := newFlags("init", c.env)
	dirp := c.dirFlag(fs)
	domain := fs.String("domain", "", "add this mail `domain`")
	hostname := fs.String("hostname", "", "server host `name` for greetings and the certificate (default: the system host name)")
	local := fs.Bool("local", false, "put every listener on 127.0.0.1 high ports (no root needed; for trying Pochta out)")
	pg := fs.String("postgres", "", "keep mail and accounts in the PostgreSQL database at `DSN` (store.engine = postgres); a further node of the cluster runs the same command, without --domain")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("init: unexpected argument %q", rest[0])
	}
	dir := *dirp
	if err := c.requireDir(dir); err != nil {
		return err
	}
	if *domain != "" {
		if _, err := admin.Domain(*domain); err != nil {
			return err
		}
	}
	host := strings.ToLower(strings.TrimSpace(*hostname))
	if host == "" {
		if host, err = os.Hostname(); err != nil || host == "" {
			host = "localhost"
		}
	}
	cfgPath := filepath.Join(dir, config.FileName)
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("init: %s already exists; refusing to overwrite it", cfgPath)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	cfg := config.Default()
	cfg.Hostname = host
	if *local {
		config.LocalProfile(cfg)
	}
	if *pg != "" {
		cfg.Store.Engine, cfg.Store.PostgresDSN = config.EnginePostgres, *pg
	}
	var text bytes.Buffer
	if err := config.Write(&text, cfg); err != nil {
		return err
	}
	// Check what we are about to write, so init never leaves a config that
	// serve would refuse.
	if _, err := config.Parse(text.String(), nil); err != nil {
		return withCode(exitConfig, fmt.Errorf("init: %w", err))
	}
	cfg.Dir = dir
	if err := c.initCert(cfg); err != nil {
		return err
	}
	// Creates the database schema (SQLite file or PostgreSQL tables); a
	// node joining a PostgreSQL cluster finds it there already.
	st, err := c.openStore(cfg, c.adminLogger())
	if err != nil {
		return fmt.Errorf("init: database: %w", err)
	}
	defer st.Close()
	if *domain != "" {
		if _, err := (&admin.Service{Store: st}).AddDomain(c.ctx, *domain); err != nil && !isKind(err, admin.Exists) {
			return err
		}
	}
	if err := writeNewFile(cfgPath, text.Bytes(), 0o640); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(c.stdout, "initialised %s (hostname %s)\n", dir, host)
	c.printNextSteps(dir, strings.ToLower(*domain), *local)
	return nil
}

// printNextSteps tells a new operator what to do after init.
func (c *cli) printNextSteps(dir, domain string, local bool) {
	d := domain
	if d == "" {
		d = "example.com"
		fmt.Fprintf(c.stdout, "next steps:\n  pochta -d %s domain add %s\n", dir, d)
	} else {
		fmt.Fprintln(c.stdout, "next steps:")
	}
	fmt.Fprintf(c.stdout, "  pochta -d %s user add you@%s\n      (the first user of a domain also gets postmaster@ and abuse@)\n", dir, d)
	fmt.Fprintf(c.stdout, "  pochta -d %s dns %s\n      (the DNS records to publish)\n", dir, d)
	if local {
		fmt.Fprintf(c.stdout, "  pochta -d %s serve\n      (on 127.0.0.1: %s)\n", dir, config.LocalPorts)
	} else {
		fmt.Fprintf(c.stdout, "  pochta -d %s serve\n      (ports 25, 80, 110, 143, 443, 465, 587, 993, 995: root or CAP_NET_BIND_SERVICE)\n", dir)
	}
	fmt.Fprintln(c.stdout, "see docs/DEPLOY.md for a systemd unit, certificates (tls.acme) and backups")
}

// initCert creates a self-signed certificate unless both files exist (an
// operator may have put a real one in place first).
func (c *cli) initCert(cfg *config.Config) error {
	cert, key := cfg.Path(cfg.TLS.Cert), cfg.Path(cfg.TLS.Key)
	_, certErr := os.Stat(cert)
	_, keyErr := os.Stat(key)
	switch {
	case certErr == nil && keyErr == nil:
		return nil
	case certErr == nil || keyErr == nil:
		// Never delete what may be the operator's own file.
		return fmt.Errorf("init: only one of %s and %s exists: put both in place, or remove it for a self-signed pair", cert, key)
	case !errors.Is(certErr, fs.ErrNotExist):
		return fmt.Errorf("init: %w", certErr)
	}
	if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: cfg.Hostname}, cert, key); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	return nil
}

// writeNewFile creates path with data, failing if it exists, and makes it
// durable.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
