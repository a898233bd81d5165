package pop3

import (
	"crypto/tls"
)

// stlsUsable reports whether STLS can be offered: TLS is configured and the
// connection is not encrypted yet.
func (s *session) stlsUsable() bool {
	return s.srv.TLSConfig != nil && !s.isTLS
}

// cmdSTLS: STLS (RFC 2595 §4).
func (s *session) cmdSTLS([]string) error {
	if s.isTLS {
		return badCommand("TLS is already active")
	}
	if s.srv.TLSConfig == nil {
		return badCommand("TLS support isn't enabled")
	}
	s.ok("Begin TLS negotiation now")
	if err := s.flush(); err != nil {
		return &endSession{reason: "write failed"}
	}
	// Whatever the client pipelined after STLS was sent in cleartext and
	// could have been injected by a man in the middle: drop it (RFC 2595
	// §3.1, the STARTTLS command injection bug), then read only from TLS.
	tc := tls.Server(s.conn, s.srv.TLSConfig)
	s.conn = tc
	s.r.Reset(tc)
	if err := s.handshake(tc); err != nil {
		s.log.Info("pop3: STLS handshake failed", "err", err)
		return &endSession{reason: "TLS handshake failed"}
	}
	s.isTLS = true
	// Everything learned before the handshake is forgotten; the client
	// must send CAPA again (RFC 2595 §4).
	s.user = ""
	s.utf8 = false
	return nil
}
