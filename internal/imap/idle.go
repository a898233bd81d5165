package imap

import (
	"strings"
	"sync/atomic"
)

// idleState is what an IDLE push needs; guarded by session.wmu.
type idleState struct {
	active  bool
	pushing atomic.Bool
}

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). Changes are pushed as
// they happen until the client sends DONE.
//
// No goroutine is parked per idle connection besides the session's own,
// blocked reading DONE: the subscription's OnChange starts a short-lived
// push for each change, which polls the view and writes under wmu. The
// output buffer goes back to the pool between pushes, so an idle IDLE
// holds only the session goroutine and its read buffer.
func (s *session) cmdIdle(tag string, _ bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	if s.sel != nil {
		if err := s.sel.poll(s, true); err != nil {
			return err
		}
	}
	s.w.Raw("+ idling\r\n")
	s.wmu.Lock()
	err := s.w.Release()
	s.idle.active = true
	s.wmu.Unlock()
	if err != nil {
		return &endSession{reason: "write failed"}
	}
	if v := s.sel; v != nil {
		v.sub.OnChange(s.pushSoon)
		// A change between the poll and OnChange would not call it.
		s.pushSoon()
	}
	s.cr.timeout = s.idleTimeout()
	line, err := s.p.ReadLine()
	if v := s.sel; v != nil {
		v.sub.OnChange(nil)
	}
	s.wmu.Lock()
	s.idle.active = false
	s.wmu.Unlock()
	s.cr.timeout = s.srv.lineTimeout()
	if err != nil {
		return err
	}
	if !strings.EqualFold(line, "DONE") {
		return bad("Expected DONE")
	}
	return nil
}

// pushSoon runs on the publisher's goroutine: it only starts a push,
// unless one is already pending.
func (s *session) pushSoon() {
	if s.idle.pushing.CompareAndSwap(false, true) {
		go s.push()
	}
}

// push writes what changed to an IDLE client.
func (s *session) push() {
	s.idle.pushing.Store(false)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if !s.idle.active || s.sel == nil {
		return
	}
	if err := s.sel.poll(s, true); err != nil {
		s.log.Info("imap: pushing changes during IDLE", "err", err)
	}
	if err := s.w.Release(); err != nil {
		s.log.Debug("imap: writing during IDLE", "err", err)
	}
}
