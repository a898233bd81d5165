package imap

import (
	"errors"
	"strings"
	"sync/atomic"
)

// idleState is what an IDLE push needs; guarded by session.wmu, except
// tag, which only the session's command flow touches.
type idleState struct {
	tag     string // the IDLE command's tag while idling
	active  bool
	pushing atomic.Bool
}

// errIdling: the handler started IDLE; the session loop waits for DONE.
var errIdling = errors.New("imap: idling")

// cmdIdle: IDLE (RFC 2177, RFC 9051 §6.3.13). Changes are pushed as
// they happen until the client sends DONE.
//
// No goroutine is parked per idle connection besides the session's own,
// blocked reading DONE with a small stack (see session.detached): the
// subscription's OnChange starts a short-lived push for each change,
// which polls the view and writes under wmu. The output buffer goes back
// to the pool between pushes.
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
	s.idle.tag = tag
	if v := s.sel; v != nil {
		v.sub.OnChange(s.pushSoon)
		// A change between the poll and OnChange would not call it.
		s.pushSoon()
	}
	return errIdling
}

// idleDone ends IDLE with the line the client sent (or the read error)
// and reports whether the session ends.
func (s *session) idleDone(line string, err error) bool {
	tag := s.idle.tag
	s.idle.tag = ""
	if v := s.sel; v != nil {
		v.sub.OnChange(nil)
	}
	s.wmu.Lock()
	s.idle.active = false
	s.wmu.Unlock()
	if err == nil && !strings.EqualFold(line, "DONE") {
		err = bad("Expected DONE")
	}
	if err == nil && s.sel != nil {
		err = s.sel.poll(s, true)
	}
	if err != nil {
		return s.fail(tag, err)
	}
	s.tagged(tag, "OK", "", "IDLE completed")
	return false
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
