package pop3

import (
	"context"
	"strconv"
	"time"
)

// message resolves a message-number argument to an index into s.msgs.
// Deleted messages keep their numbers but cannot be used (RFC 1939 §5).
func (s *session) message(arg string) (int, error) {
	n, ok := parseNumber(arg)
	if !ok {
		return 0, badCommand("Invalid message number")
	}
	if n < 1 || n > uint64(len(s.msgs)) {
		return 0, badCommand("No such message, only %d messages in maildrop", len(s.msgs))
	}
	i := int(n - 1)
	if s.deleted[i] {
		return 0, badCommand("Message %d already deleted", n)
	}
	return i, nil
}

// parseNumber parses a non-negative decimal number made of digits only
// (no sign, no spaces). Values too large for an int64 saturate: they are
// out of range for any message number and mean "all" for a line count.
func parseNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 {
			n = 1 << 63
			continue
		}
		n = n*10 + uint64(c-'0')
	}
	return min(n, 1<<63), true
}

// cmdStat: STAT, counting only messages not marked deleted.
func (s *session) cmdStat([]string) error {
	w := s.writer()
	b := append(w.AvailableBuffer(), "+OK "...)
	b = strconv.AppendInt(b, int64(len(s.msgs)-s.nDeleted), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.totalSize-s.sizeDeleted, 10)
	b = append(b, "\r\n"...)
	_, _ = w.Write(b)
	return nil
}

// cmdList: LIST [msg]. Sizes are the stored CRLF octets, what RETR sends
// before dot-stuffing.
func (s *session) cmdList(args []string) error {
	return s.listing(args, func(b []byte, i int) []byte {
		return strconv.AppendInt(b, s.msgs[i].Size, 10)
	})
}

// cmdUidl: UIDL [msg] (RFC 1939 §7): the store's stable unique-ids.
func (s *session) cmdUidl(args []string) error {
	return s.listing(args, func(b []byte, i int) []byte {
		return append(b, s.msgs[i].UIDL...)
	})
}

// listing answers LIST and UIDL: one "n value" line for a given message,
// or a multi-line list of all messages not marked deleted.
func (s *session) listing(args []string, value func(b []byte, i int) []byte) error {
	w := s.writer()
	if len(args) == 1 {
		i, err := s.message(args[0])
		if err != nil {
			return err
		}
		b := append(w.AvailableBuffer(), "+OK "...)
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(value(append(b, ' '), i), "\r\n"...)
		_, _ = w.Write(b)
		return nil
	}
	s.okf("%d messages (%d octets)", len(s.msgs)-s.nDeleted, s.totalSize-s.sizeDeleted)
	for i := range s.msgs {
		if s.deleted[i] {
			continue
		}
		b := strconv.AppendInt(w.AvailableBuffer(), int64(i+1), 10)
		b = append(value(append(b, ' '), i), "\r\n"...)
		_, _ = w.Write(b)
	}
	_, _ = w.WriteString(".\r\n")
	return nil
}

// cmdDele: DELE msg only marks; QUIT applies the marks.
func (s *session) cmdDele(args []string) error {
	i, err := s.message(args[0])
	if err != nil {
		return err
	}
	s.deleted[i] = true
	s.nDeleted++
	s.sizeDeleted += s.msgs[i].Size
	s.okf("Message %d deleted", i+1)
	return nil
}

func (s *session) cmdNoop([]string) error {
	s.ok("")
	return nil
}

// cmdRset: RSET unmarks every deleted message (and resets LAST, RFC 1725).
func (s *session) cmdRset([]string) error {
	clear(s.deleted)
	s.nDeleted, s.sizeDeleted, s.last = 0, 0, 0
	s.okf("Maildrop has %d messages (%d octets)", len(s.msgs), s.totalSize)
	return nil
}

// cmdLast: LAST (RFC 1725, removed by RFC 1939): the highest message
// number retrieved in this session.
func (s *session) cmdLast([]string) error {
	s.okf("%d", s.last)
	return nil
}

// cmdQuit: QUIT. In TRANSACTION it enters UPDATE: the marked messages are
// deleted in one store transaction, all or nothing (RFC 1939 §6).
func (s *session) cmdQuit([]string) error {
	if s.state == stateAuthorization {
		s.okf("%s POP3 server signing off", s.srv.hostname())
		return &endSession{reason: "quit"}
	}
	s.state = stateUpdate
	// The UPDATE transaction runs to its end even when the server is
	// shutting down: a half-applied QUIT is worse than a slower shutdown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.srv.writeTimeout())
	defer cancel()
	if s.nDeleted > 0 {
		ids := make([]int64, 0, s.nDeleted)
		for i, d := range s.deleted {
			if d {
				ids = append(ids, s.msgs[i].ID)
			}
		}
		if err := s.drop.Delete(ctx, ids); err != nil {
			s.log.Error("pop3: UPDATE failed, nothing deleted", "err", err)
			s.errReply(codeSysTemp, "Some deleted messages were not removed, try again later")
			return &endSession{reason: "quit, UPDATE failed"}
		}
		s.nExpunged = len(ids)
	}
	// After the delete, so messages it removed need no record: a
	// download-and-delete QUIT then commits one transaction, not two.
	s.markRetrieved()
	// Unlock before answering, so a client reconnecting at once after
	// +OK does not find the maildrop still locked.
	s.dropAhead()
	if err := s.drop.Close(); err != nil {
		s.log.Warn("pop3: closing maildrop", "err", err)
	}
	s.drop = nil
	if s.nExpunged > 0 {
		s.ok("Logging out, messages deleted")
	} else {
		s.ok("Logging out")
	}
	return &endSession{reason: "quit"}
}

// markRetrieved records, in one call, the first retrieval of the messages
// fully sent this session, for EXPIRE. It runs at QUIT or at the end of
// the session, so RETR costs no store write. Messages a committed UPDATE
// has just deleted are left out.
func (s *session) markRetrieved() {
	if s.retrieved == nil || s.drop == nil {
		return
	}
	var ids []int64
	for i, r := range s.retrieved {
		if r && s.msgs[i].FirstRetrieved.IsZero() && !(s.nExpunged > 0 && s.deleted[i]) {
			ids = append(ids, s.msgs[i].ID)
		}
	}
	s.retrieved = nil
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	if err := s.drop.MarkRetrieved(ctx, ids, s.srv.now()); err != nil {
		s.log.Warn("pop3: recording first retrieval", "err", err)
	}
}
