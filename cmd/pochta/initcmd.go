package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
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
	st, err := sqlite.Open(c.ctx, dir, sqlite.Options{Logger: c.adminLogger()})
	if err != nil {
		return fmt.Errorf("init: database: %w", err)
	}
	defer st.Close()
	if *domain != "" {
		name := strings.ToLower(*domain)
		if err := st.AddDomain(c.ctx, name); err != nil && !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("init: domain %s: %w", name, err)
		}
	}
	if err := writeNewFile(cfgPath, text.Bytes(), 0o640); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(c.stdout, "initialised %s (hostname %s)\n", dir, host)
	return nil
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
