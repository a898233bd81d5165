package pop3

import (
	"strconv"
	"strings"
	"time"
)

// cmdCapa: CAPA (RFC 2449 §5). The list depends on the connection: USER
// and the plaintext SASL mechanisms only where cleartext passwords are
// allowed, STLS only where TLS can still start. It does not depend on the
// state: RFC 2449 §5 says capabilities available in AUTHORIZATION "MUST be
// announced in both states", and USER, SASL (RFC 2449 §6.2, §6.3) and STLS
// (RFC 2595 §4) are each described as announced in both states with no
// differences, though their commands are valid only before login.
func (s *session) cmdCapa([]string) error {
	w := s.writer()
	line := func(parts ...string) {
		for i, p := range parts {
			if i > 0 {
				_ = w.WriteByte(' ')
			}
			_, _ = w.WriteString(p)
		}
		_, _ = w.WriteString("\r\n")
	}
	line("+OK Capability list follows")
	line("TOP")
	line("UIDL")
	plain := s.plaintextOK()
	if plain {
		line("USER")
	}
	if mechs := s.srv.Auth.Mechanisms(plain); len(mechs) > 0 {
		line("SASL " + strings.Join(mechs, " "))
	}
	if s.stlsUsable() {
		line("STLS")
	}
	line("RESP-CODES")
	line("AUTH-RESP-CODE")
	line("PIPELINING")
	// RFC 2449 §6.7/§6.8. The values are server-wide, not per user, so
	// both states show the real value and never the "USER" suffix (which
	// only means "may differ after login").
	line("EXPIRE", expireValue(s.srv.Expire))
	if s.srv.LoginDelay > 0 {
		line("LOGIN-DELAY", strconv.FormatInt(int64((s.srv.LoginDelay+time.Second-1)/time.Second), 10))
	}
	// RFC 6856 §2: USER says UTF-8 user names and passwords are accepted.
	line("UTF8 USER")
	line("LANG")
	line("IMPLEMENTATION Pochta")
	line(".")
	return nil
}

// expireValue is the EXPIRE argument: whole days, rounded down, so a
// retention under a day shows as 0 ("mail may be removed soon after
// retrieval": clients should not rely on leaving it on the server).
func expireValue(d time.Duration) string {
	if d <= 0 {
		return "NEVER"
	}
	return strconv.FormatInt(int64(d/(24*time.Hour)), 10)
}

// cmdUTF8: UTF8 (RFC 6856 §2) enters UTF-8 mode. Message bodies are never
// down-converted, so the mode changes no byte we send; it is remembered,
// and STLS resets it like all session state.
func (s *session) cmdUTF8([]string) error {
	s.utf8 = true
	s.ok("UTF8 enabled")
	return nil
}

// cmdLang: LANG [tag] (RFC 6856 §3). Only English exists: "LANG" lists it,
// "LANG en" and "LANG *" select it, any other tag is refused.
func (s *session) cmdLang(args []string) error {
	if len(args) == 0 {
		s.ok("Language listing follows")
		w := s.writer()
		_, _ = w.WriteString("en English\r\n.\r\n")
		return nil
	}
	tag := strings.ToLower(args[0])
	if tag != "*" && tag != "en" && !strings.HasPrefix(tag, "en-") {
		return badCommand("Unsupported language")
	}
	s.ok("en Language changed to English")
	return nil
}
