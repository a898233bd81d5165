package main

import (
	"crypto/tls"
	"log/slog"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/imap"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// imapRefusal answers connections over a limit (RFC 9051 7.1.5: BYE).
const imapRefusal = "* BYE [UNAVAILABLE] Too many connections\r\n"

func newIMAP(cfg *config.Config, st store.Mailboxes, a imap.Authenticator, tlsConfig *tls.Config, log *slog.Logger) *imap.Server {
	return &imap.Server{
		Hostname:       hostname(cfg),
		Auth:           a,
		Store:          st,
		Logger:         log,
		TLSConfig:      tlsConfig,
		AllowPlaintext: cfg.Auth.AllowPlaintext,
		AppendLimit:    int64(cfg.Limits.MaxMessageSize),
		Version:        version(),
		Pacing:         pacing(cfg),
		IdleTimeout:    cfg.IMAP.IdleTimeout.D(),
		MaxBadCommands: cfg.IMAP.MaxBadCommands,
	}
}

func imapListeners(cfg *config.Config, s *imap.Server) []server.Listener {
	var ls []server.Listener
	if cfg.IMAP.Listen != "" {
		ls = append(ls, server.Listener{Name: "imap", Key: "imap.listen", Addr: cfg.IMAP.Listen,
			TLS: server.TLSNone, Handler: s, Refusal: imapRefusal})
	}
	if cfg.IMAPS.Listen != "" {
		ls = append(ls, server.Listener{Name: "imaps", Key: "imaps.listen", Addr: cfg.IMAPS.Listen,
			TLS: server.TLSImplicit, Handler: s, Refusal: imapRefusal})
	}
	return ls
}
