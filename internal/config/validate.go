package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// rfc1939MinIdle is the autologout timer's floor: "at least 10 minutes"
// (RFC 1939 section 3).
const rfc1939MinIdle = 10 * time.Minute

// rfc9051MinIdle is the shortest IMAP autologout timer RFC 9051 section
// 5.4 allows.
const rfc9051MinIdle = 30 * time.Minute

// Validate checks every value that can be checked without touching files.
func (c *Config) Validate() error {
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return keyErr("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return keyErr("log.format", "%q is not one of text, json", c.Log.Format)
	}
	switch c.MTASTS.Mode {
	case "", "testing", "enforce", "none":
	default:
		return keyErr("mta_sts.mode", "%q is not one of testing, enforce, none (or empty)", c.MTASTS.Mode)
	}
	if d := c.MTASTS.MaxAge.D(); d < time.Hour || d > 8760*time.Hour {
		return keyErr("mta_sts.max_age", "must be from 1h to 8760h, got %s", d)
	}
	if strings.ContainsFunc(c.Hostname, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return keyErr("hostname", "%q contains spaces or control characters", c.Hostname)
	}
	for _, f := range fields() {
		if !strings.HasSuffix(f.Key, ".listen") {
			continue
		}
		addr, _ := c.Get(f.Key)
		if addr == "" {
			continue
		}
		if f.Reserved {
			return keyErr(f.Key, "%s is not implemented yet; leave it empty", strings.ToUpper(f.Table))
		}
		if err := checkListen(addr); err != nil {
			return &KeyError{Key: f.Key, Err: err}
		}
	}
	switch c.Store.Engine {
	case EngineSQLite:
	case EnginePostgres:
		if c.Store.PostgresDSN == "" {
			return keyErr("store.postgres_dsn", "store.engine = postgres needs the database's DSN")
		}
	default:
		return keyErr("store.engine", "%q is not one of sqlite, postgres", c.Store.Engine)
	}
	if d := c.Store.LockLease.D(); d < 3*time.Second || d > 5*time.Minute {
		return keyErr("store.lock_lease", "must be from 3s to 5m, got %s", d)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return keyErr("tls.cert", "tls.cert and tls.key must be set together")
	}
	if c.TLS.ACME && (c.HTTP.Listen == "" && c.HTTPS.Listen == "") {
		return keyErr("tls.acme", "the CA validates over http.listen (port 80) or https.listen (port 443): enable one")
	}
	if c.TLS.ACME && !strings.HasPrefix(c.TLS.ACMEDirectory, "https://") {
		return keyErr("tls.acme_directory", "%q is not an https:// URL", c.TLS.ACMEDirectory)
	}
	if c.POP3S.Listen != "" && !c.TLSOn() {
		return keyErr("pop3s.listen", "implicit TLS needs tls.cert and tls.key (or leave pop3s.listen empty)")
	}
	if c.IMAPS.Listen != "" && !c.TLSOn() {
		return keyErr("imaps.listen", "implicit TLS needs tls.cert and tls.key (or leave imaps.listen empty)")
	}
	if c.HTTPS.Listen != "" && !c.TLSOn() {
		return keyErr("https.listen", "HTTPS needs tls.cert and tls.key (or leave https.listen empty)")
	}
	if c.Submissions.Listen != "" && !c.TLSOn() {
		return keyErr("submissions.listen", "implicit TLS needs tls.cert and tls.key (or leave submissions.listen empty)")
	}
	if err := c.validateSMTP(); err != nil {
		return err
	}
	// RFC 9051 section 5.4 asks for at least 30 minutes (a warning
	// below); past a day a dead client's session would only hold memory.
	if d := c.IMAP.IdleTimeout.D(); d < time.Second || d > 24*time.Hour {
		return keyErr("imap.idle_timeout", "must be from 1s to 24h, got %s", d)
	}
	if c.IMAP.MaxBadCommands < 1 {
		return keyErr("imap.max_bad_commands", "must be at least 1, got %d", c.IMAP.MaxBadCommands)
	}
	if c.POP3.IdleTimeout <= 0 {
		return keyErr("pop3.idle_timeout", "must be positive, got %s", c.POP3.IdleTimeout.D())
	}
	for key, d := range map[string]Duration{
		"pop3.login_delay": c.POP3.LoginDelay,
		"shutdown.timeout": c.Shutdown.Timeout,
	} {
		if d < 0 {
			return keyErr(key, "must not be negative, got %s", d.D())
		}
	}
	if c.Limits.LineTimeout <= 0 {
		return keyErr("limits.line_timeout", "must be positive, got %s", c.Limits.LineTimeout.D())
	}
	if c.Limits.MinDataRate <= 0 {
		return keyErr("limits.min_data_rate", "must be positive, got %d", c.Limits.MinDataRate)
	}
	if c.Limits.MaxSession.D() < rfc1939MinIdle {
		return keyErr("limits.max_session", "must be at least %s (RFC 1939 autologout, RFC 5321 timeouts), got %s", rfc1939MinIdle, c.Limits.MaxSession.D())
	}
	if c.POP3.MaxBadCommands < 1 {
		return keyErr("pop3.max_bad_commands", "must be at least 1, got %d", c.POP3.MaxBadCommands)
	}
	for key, n := range map[string]int{
		"limits.max_connections":        c.Limits.MaxConnections,
		"limits.max_connections_per_ip": c.Limits.MaxConnectionsPerIP,
	} {
		if n < 0 {
			return keyErr(key, "must not be negative (0 = unlimited), got %d", n)
		}
	}
	if c.Limits.MaxMessageSize <= 0 {
		return keyErr("limits.max_message_size", "must be positive")
	}
	if c.Fetch.Interval.D() < time.Minute {
		return keyErr("fetch.interval", "must be at least 1m, got %s", c.Fetch.Interval.D())
	}
	if c.Fetch.Timeout <= 0 {
		return keyErr("fetch.timeout", "must be positive, got %s", c.Fetch.Timeout.D())
	}
	if err := c.validateQueue(); err != nil {
		return err
	}
	if strings.ContainsAny(c.Auth.LoginSeparators, "@ \t") {
		return keyErr("auth.login_separators", "%q must not contain @ or spaces", c.Auth.LoginSeparators)
	}
	if strings.ContainsAny(c.Auth.DefaultDomain, "@ \t") {
		return keyErr("auth.default_domain", "%q is not a domain name", c.Auth.DefaultDomain)
	}
	return nil
}

func (c *Config) validateSMTP() error {
	switch c.SMTP.BareNewline {
	case "normalize", "reject":
	default:
		return keyErr("smtp.bare_newline", "%q is not one of normalize, reject", c.SMTP.BareNewline)
	}
	switch c.SMTP.FromPolicy {
	case "account", "any":
	default:
		return keyErr("smtp.from_policy", "%q is not one of account, any", c.SMTP.FromPolicy)
	}
	if c.SMTP.RecipientsPerHour < 0 {
		return keyErr("smtp.recipients_per_hour", "must not be negative (0 = unlimited), got %d", c.SMTP.RecipientsPerHour)
	}
	for key, d := range map[string]Duration{
		"smtp.command_timeout": c.SMTP.CommandTimeout,
		"smtp.data_timeout":    c.SMTP.DataTimeout,
	} {
		if d <= 0 {
			return keyErr(key, "must be positive, got %s", d.D())
		}
	}
	for key, n := range map[string]int{
		"smtp.max_recipients": c.SMTP.MaxRecipients,
		"smtp.max_errors":     c.SMTP.MaxErrors,
	} {
		if n < 1 {
			return keyErr(key, "must be at least 1, got %d", n)
		}
	}
	if c.SMTP.MaxLineLength < 1000 {
		return keyErr("smtp.max_line_length", "must be at least 1000 (RFC 5321 section 4.5.3.1.6), got %d", c.SMTP.MaxLineLength)
	}
	if strings.ContainsAny(c.Delivery.RecipientDelimiter, "@ \t\"") {
		return keyErr("delivery.recipient_delimiter", "%q must not contain @, quotes or spaces", c.Delivery.RecipientDelimiter)
	}
	return nil
}

// Warnings lists accepted values that deserve an operator's attention; the
// server logs them at startup.
func (c *Config) Warnings() []string {
	var w []string
	if c.POP3.IdleTimeout.D() < rfc1939MinIdle {
		w = append(w, fmt.Sprintf("pop3.idle_timeout %s is below the 10m RFC 1939 requires; clients may be disconnected while they work", c.POP3.IdleTimeout.D()))
	}
	if c.IMAP.IdleTimeout.D() < rfc9051MinIdle {
		w = append(w, fmt.Sprintf("imap.idle_timeout %s is below the 30m RFC 9051 requires; clients may be logged out while they work", c.IMAP.IdleTimeout.D()))
	}
	if c.Auth.AllowPlaintext {
		w = append(w, "auth.allow_plaintext is true: passwords may cross the network unencrypted")
	}
	return w
}

// ValidateFiles checks the files the server needs: the TLS certificate and
// key, when TLS is configured.
func (c *Config) ValidateFiles() error {
	if c.TLS.ACME {
		return nil // tls.cert and tls.key are not used
	}
	for key, p := range map[string]string{"tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(c.Path(p)); err != nil {
			return &KeyError{Key: key, Err: err}
		}
	}
	return nil
}

// checkListen accepts "host:port" where host is empty, an IP address or
// "localhost" and port is a number (0 picks a free port).
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, unwrapAddrErr(err))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" || host == "localhost" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: host %q is not an IP address (use an address, \"localhost\" or nothing for all)", addr, host)
	}
	return nil
}

func unwrapAddrErr(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

func (c *Config) validateQueue() error {
	q := c.Queue
	for key, n := range map[string]int{"queue.workers": q.Workers, "queue.per_domain": q.PerDomain, "queue.connection_messages": q.ConnectionMessages} {
		if n < 1 {
			return keyErr(key, "must be at least 1, got %d", n)
		}
	}
	if q.RemotePort < 1 || q.RemotePort > 65535 {
		return keyErr("queue.remote_port", "must be a TCP port, got %d", q.RemotePort)
	}
	for key, d := range map[string]Duration{
		"queue.lifetime": q.Lifetime, "queue.retry_base": q.RetryBase, "queue.retry_max": q.RetryMax,
		"queue.attempt_timeout": q.AttemptTimeout, "queue.poll_interval": q.PollInterval,
		"queue.connection_idle": q.ConnectionIdle,
	} {
		if d <= 0 {
			return keyErr(key, "must be positive, got %s", d.D())
		}
	}
	if q.Smarthost != "" {
		if _, _, err := net.SplitHostPort(q.Smarthost); err != nil {
			return keyErr("queue.smarthost", "%q is not host:port", q.Smarthost)
		}
	}
	if (q.SmarthostUser == "") != (q.SmarthostPasswordFile == "") {
		return keyErr("queue.smarthost_user", "queue.smarthost_user and queue.smarthost_password_file must be set together")
	}
	if q.SmarthostUser != "" && q.Smarthost == "" {
		return keyErr("queue.smarthost_user", "set without queue.smarthost")
	}
	for _, d := range strings.Split(q.RequireTLS, ",") {
		if d = strings.TrimSpace(d); strings.ContainsAny(d, "@ \t=:") {
			return keyErr("queue.require_tls", "%q is not a domain name", d)
		}
	}
	return nil
}
