package main

import (
	"crypto/tls"
	"log/slog"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/managesieve"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/store"
)

// manageSieveRefusal answers connections over a limit (RFC 5804 BYE).
const manageSieveRefusal = "BYE (TRYLATER) \"Too many connections\"\r\n"

// newScripts is the script service of ManageSieve and `pochta sieve`,
// with the managesieve.* limits.
func newScripts(cfg *config.Config, st store.Sieve) *managesieve.Scripts {
	return &managesieve.Scripts{Store: st, MaxScriptSize: int(cfg.ManageSieve.MaxScriptSize),
		MaxScripts: cfg.ManageSieve.MaxScripts}
}

func manageSieveListeners(cfg *config.Config, st store.Sieve, a managesieve.Authenticator, tlsConfig *tls.Config, log *slog.Logger) []server.Listener {
	if cfg.ManageSieve.Listen == "" {
		return nil
	}
	s := &managesieve.Server{Auth: a, Scripts: newScripts(cfg, st), TLSConfig: tlsConfig,
		AllowPlaintext: cfg.Auth.AllowPlaintext, Hostname: hostname(cfg), Logger: log,
		MaxSession: cfg.Limits.MaxSession.D()}
	return []server.Listener{{Name: "managesieve", Key: "managesieve.listen", Addr: cfg.ManageSieve.Listen,
		TLS: server.TLSNone, Handler: s, Refusal: manageSieveRefusal}}
}
