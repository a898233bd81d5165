package imaptest

// The stress test's checks that run once every session has stopped.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// omit remembers a message an OK FETCH left out, for checkOmitted.
func (run *stressRun) omit(mailbox string, uid uint32, command string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.omitted[mailbox] == nil {
		run.omitted[mailbox] = map[uint32]string{}
	}
	run.omitted[mailbox][uid] = command
}

// checkOmitted: every message an OK FETCH left out must be gone.
func (run *stressRun) checkOmitted() {
	for mb, uids := range run.omitted {
		v, err := run.freshView(-1, mb)
		if err != nil {
			run.violate(-1, "final check of "+mb, "fresh session: "+err.Error())
			continue
		}
		for _, u := range v.uids {
			if command, ok := uids[u]; ok {
				run.violate(-1, command, fmt.Sprintf("answered OK without UID %d of %s, which was never expunged (RFC 9051 §6.4.5; only an expunged message may be left out, RFC 2180 §4.1)", u, mb))
			}
		}
	}
}

// checkCut: no mailbox may hold a message whose APPEND was cut short.
func (run *stressRun) checkCut() {
	conn, err := run.dial()
	if err != nil {
		run.violate(-1, "final check", err.Error())
		return
	}
	defer conn.Close()
	for _, mb := range run.o.Mailboxes {
		res, err := conn.MustOK("EXAMINE", Quote(mb))
		if err != nil {
			run.violate(-1, "final check", err.Error())
			return
		}
		if len(res.Named("EXISTS")) == 0 || res.Named("EXISTS")[0].Num == 0 {
			continue
		}
		res, err = conn.MustOK("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-Stress-Id)])")
		if err != nil {
			run.violate(-1, "final check", err.Error())
			return
		}
		for _, r := range res.Named("FETCH") {
			for _, it := range mustItems(r) {
				if !strings.HasPrefix(it.Name, "BODY[HEADER.FIELDS") {
					continue
				}
				if id, ok := stressID(it.Value.S); ok && run.reg.isCut(id) {
					run.violate(-1, "final check of "+mb, fmt.Sprintf("message %s is stored although its APPEND was cut short by a closed connection (issue 8: a cut APPEND stores nothing)", id))
				}
			}
		}
	}
}

func mustItems(r *Response) []FetchItem {
	items, _ := r.FetchItems()
	return items
}

// finalCheck: after everyone stopped, the session's model must equal what
// a fresh session sees (same UIDs in the same order, same flags).
func (c *stressClient) finalCheck() {
	if c.conn == nil || c.v == nil {
		return
	}
	mb := c.v.mailbox
	want, err := c.run.freshView(c.id, mb)
	if err != nil {
		c.run.violate(c.id, "final check of "+mb, "fresh session: "+err.Error())
		return
	}
	// Updates may still be on their way to the old session (changes from
	// another process arrive with the store's polling, every 500 ms in
	// Pochta): NOOP until it agrees, for up to 5 s, then report the
	// difference.
	var diff string
	for give := time.Now().Add(5 * time.Second); time.Now().Before(give); {
		if c.do("NOOP", "NOOP") == nil {
			return
		}
		if len(c.v.uids) > 0 && c.do("FETCH", "FETCH 1:* (UID FLAGS)") == nil {
			return
		}
		if diff = compareViews(c.v, want); diff == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.run.violate(c.id, "final check of "+mb, diff)
}

// freshView is a new session's view of a mailbox: EXAMINE, then every
// UID and flag.
func (run *stressRun) freshView(client int, mb string) (*view, error) {
	conn, err := run.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v := newView(mb)
	for _, command := range []string{"EXAMINE " + Quote(mb), "FETCH 1:* (UID FLAGS)"} {
		if command[0] == 'F' && len(v.uids) == 0 {
			break
		}
		res, err := conn.MustOK(command)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Untagged {
			for _, e := range v.apply(cmdKind{name: strings.Fields(command)[0]}, r, run.reg) {
				run.violate(client, "fresh session "+command, e)
			}
		}
	}
	return v, nil
}

func compareViews(got, want *view) string {
	if !slices.Equal(got.uids, want.uids) {
		return fmt.Sprintf("the session's UIDs %v differ from a fresh session's %v", abbrev(got.uids), abbrev(want.uids))
	}
	for _, u := range want.uids {
		g, w := withoutRecent(got.flags[u]), withoutRecent(want.flags[u])
		if !slices.Equal(g, w) {
			return fmt.Sprintf("UID %d: the session has flags %v, a fresh session %v", u, g, w)
		}
	}
	return ""
}

func withoutRecent(fl []string) []string {
	var out []string
	for _, f := range fl {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, strings.ToLower(f))
		}
	}
	slices.Sort(out)
	return out
}

func abbrev(u []uint32) string {
	if len(u) > 30 {
		return fmt.Sprint(u[:30]) + fmt.Sprintf("... (%d)", len(u))
	}
	return fmt.Sprint(u)
}
