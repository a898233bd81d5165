package pop3

// HELP's handler reads the table, so the table cannot name it (an
// initialization cycle): it is hooked in here, once, before any session.
func init() {
	for i := range commands {
		if commands[i].name == "HELP" {
			commands[i].run = (*session).cmdHelp
		}
	}
}

// cmdHelp: HELP, not in any RFC: people typing at a POP3 server, and a
// few clients, ask for it. It answers on one line (a client that does not
// know the command cannot misread a multi-line reply) with the commands
// that can succeed now: legal in the current state, turned on, and usable
// on this connection. It is deliberately absent from CAPA.
func (s *session) cmdHelp([]string) error {
	w := s.writer()
	_, _ = w.WriteString("+OK Valid commands:")
	for i := range commands {
		c := &commands[i]
		if !c.states.has(s.state) || (c.enabled != nil && !c.enabled(s.srv)) || !s.usable(c.name) {
			continue
		}
		_ = w.WriteByte(' ')
		_, _ = w.WriteString(c.name)
	}
	_, _ = w.WriteString("\r\n")
	return nil
}

// usable reports whether a command legal in the current state can work on
// this connection: HELP does not list what would only be refused.
func (s *session) usable(name string) bool {
	switch name {
	case "USER", "PASS":
		return s.plaintextOK()
	case "APOP":
		return s.apopStamp != ""
	case "AUTH":
		return s.srv.Auth != nil && len(s.srv.Auth.Mechanisms(s.plaintextOK())) > 0
	case "STLS":
		return s.stlsUsable()
	}
	return true
}
