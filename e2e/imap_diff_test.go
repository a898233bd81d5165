package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
)

// The differential test: the same scripted IMAP sessions run against
// Pochta (`pochta serve`) and against Dovecot 2.3 started on loopback, and
// the responses, normalised as imap_diff_norm_test.go lists, must agree
// step by step. Dovecot is the reference: a difference is reported as
// "command: dovecot said X, pochta said Y".

const diffPass = "diff-pass-123"

// dstep is one step of a script.
type dstep struct {
	conn string // connection name; a name not seen before dials (its greeting is the step's output)
	args []any  // the command after the tag: strings as they are, imaptest.Literal values as literals
	// idle, when set, runs IDLE on conn around the nested step (on
	// another connection), reading until an untagged response named
	// idleUntil arrives, then sends DONE.
	idle      *dstep
	idleUntil string
	// pipeline, when set, sends these commands back to back before
	// reading any answer (only non-synchronising literals in them).
	pipeline [][]any
	// sasl, when set, answers each continuation request of the command
	// (AUTHENTICATE) with the next of these lines.
	sasl []string
	// statusOnly compares only the tagged status (with its code), for
	// steps where untagged data may legitimately differ; why names the
	// RFC section.
	statusOnly bool
	why        string
	// expect, when set, is what Pochta must answer (normalised) where
	// Dovecot 2.3 is known to deviate from the RFC; why names the RFC
	// section. Dovecot's answer is then only logged.
	expect []string
	// either: Dovecot's answer is right too (the RFC allows both).
	either bool
}

func cmd(conn string, args ...any) dstep { return dstep{conn: conn, args: args} }

// stepOutput is what one server answered to one step.
type stepOutput struct {
	lines []string // normalised
	raw   []string // as received, for the report
}

// session runs a script against one server.
type session struct {
	name  string
	addr  string
	conns map[string]*imaptest.Conn
	dead  map[string]string // connection name -> why it ended
	norm  *normaliser
}

func (s *session) close() {
	for _, c := range s.conns {
		c.Close()
	}
}

func (s *session) conn(name string) (*imaptest.Conn, *stepOutput) {
	if c, ok := s.conns[name]; ok {
		return c, nil
	}
	if why, ok := s.dead[name]; ok {
		return nil, &stepOutput{lines: []string{"ERROR connection ended earlier: " + why}}
	}
	// 30 s: above the 15 s cap of the login-failure delay (internal/auth),
	// which the failed logins of the scripts build up on 127.0.0.1.
	c, err := imaptest.Dial(s.addr, imaptest.Options{Timeout: 30 * time.Second})
	if err != nil {
		return nil, &stepOutput{lines: []string{"ERROR dial: " + err.Error()}}
	}
	s.conns[name] = c
	return c, &stepOutput{lines: []string{"* " + c.Greeting.Name}, raw: []string{c.Greeting.Raw}}
}

func (s *session) run(st dstep) stepOutput {
	c, greeting := s.conn(st.conn)
	if c == nil {
		return *greeting
	}
	var out stepOutput
	if greeting != nil {
		out = *greeting
	}
	if st.args == nil && st.idle == nil && st.pipeline == nil {
		return out
	}
	if st.pipeline != nil {
		return s.runPipeline(c, st, out)
	}
	if st.sasl != nil {
		return s.runSASL(c, st, out)
	}
	var res *imaptest.Result
	var err error
	if st.idle != nil {
		var nested stepOutput
		res, err = c.Idle(func() ([]*imaptest.Response, error) {
			nested = s.run(*st.idle)
			var got []*imaptest.Response
			for {
				r, err := c.ReadResponseTimeout(5 * time.Second)
				if err != nil {
					return got, fmt.Errorf("IDLE: no %s within 5s: %w", st.idleUntil, err)
				}
				got = append(got, r)
				if r.Name == st.idleUntil {
					return got, nil
				}
			}
		})
		out.lines = append(out.lines, "nested: "+strings.Join(nested.lines, " | "))
		out.raw = append(out.raw, nested.raw...)
	} else {
		res, err = c.Do(st.args...)
	}
	if res != nil {
		for _, r := range res.Untagged {
			out.raw = append(out.raw, r.Raw)
		}
		if res.Status != nil {
			out.raw = append(out.raw, res.Status.Raw)
		}
		lines := s.norm.result(res)
		if st.statusOnly && len(lines) > 0 {
			lines = lines[len(lines)-1:]
		}
		out.lines = append(out.lines, lines...)
	}
	if err != nil {
		s.fail(c, st, &out, err)
	}
	return out
}

// fail records err as the step's last line and ends the connection; later
// steps on it report that instead of running.
func (s *session) fail(c *imaptest.Conn, st dstep, out *stepOutput, err error) {
	out.lines = append(out.lines, "ERROR "+err.Error())
	c.Close()
	delete(s.conns, st.conn)
	s.dead[st.conn] = "at " + st.String()
}

// runSASL runs an AUTHENTICATE exchange: each "+" is answered with the
// next line of st.sasl (the challenge text is not compared, its count is).
func (s *session) runSASL(c *imaptest.Conn, st dstep, out stepOutput) stepOutput {
	res, done, err := c.Start(st.args...)
	next := 0
	for err == nil && !done {
		var r *imaptest.Response
		if r, err = c.ReadResponse(); err != nil {
			break
		}
		out.raw = append(out.raw, r.Raw)
		switch {
		case r.Tag == "+":
			out.lines = append(out.lines, "+")
			line := "*" // out of answers: cancel (RFC 9051 §6.2.2)
			if next < len(st.sasl) {
				line = st.sasl[next]
			}
			next++
			err = c.WriteLine(line)
		case r.Tag == res.Tag():
			res.Status, done = r, true
		default:
			res.Untagged = append(res.Untagged, r)
		}
	}
	if res != nil && res.Status != nil {
		out.lines = append(out.lines, s.norm.status("tag", res.Status))
	}
	if err != nil {
		s.fail(c, st, &out, err)
	}
	return out
}

// runPipeline sends every command of st.pipeline, then reads until all
// are complete, in whatever order the server completes them. Only each
// command's status is compared: a server may run pipelined commands
// concurrently (RFC 9051 §5.5), so which answer carries an update
// differs; the step after a pipeline compares the resulting state.
func (s *session) runPipeline(c *imaptest.Conn, st dstep, out stepOutput) stepOutput {
	status := map[string]*imaptest.Response{}
	var tags []string
	var err error
	for _, args := range st.pipeline {
		var res *imaptest.Result
		var done bool
		res, done, err = c.Start(args...)
		if err != nil {
			break
		}
		tags = append(tags, res.Tag())
		if done {
			status[res.Tag()] = res.Status
		}
	}
	for err == nil && len(status) < len(tags) {
		var r *imaptest.Response
		if r, err = c.ReadResponse(); err != nil {
			break
		}
		out.raw = append(out.raw, r.Raw)
		if r.Tag != "*" && r.Tag != "+" {
			status[r.Tag] = r
		}
	}
	for i, tag := range tags {
		if r := status[tag]; r != nil {
			out.lines = append(out.lines, fmt.Sprintf("command %d: %s", i+1, s.norm.status("tag", r)))
		}
	}
	if err != nil {
		s.fail(c, st, &out, err)
	}
	return out
}

func (st dstep) String() string {
	if st.pipeline != nil {
		var parts []string
		for _, args := range st.pipeline {
			parts = append(parts, strings.TrimPrefix(dstep{conn: st.conn, args: args}.String(), st.conn+": "))
		}
		return st.conn + ": pipelined " + strings.Join(parts, " ; ")
	}
	if st.idle != nil {
		return st.conn + ": IDLE around " + st.idle.String()
	}
	var b strings.Builder
	b.WriteString(st.conn + ":")
	for _, a := range st.args {
		switch a := a.(type) {
		case string:
			b.WriteString(" " + a)
		case imaptest.Literal:
			fmt.Fprintf(&b, " {%d bytes}", len(a.Data))
		}
	}
	if st.args == nil {
		b.WriteString(" (connect)")
	}
	return b.String()
}

// diffServers runs script against both servers and reports every step
// whose normalised responses differ.
func diffServers(t *testing.T, script []dstep, dovecotAddr, pochtaAddr string) {
	t.Helper()
	dc := &session{name: "dovecot", addr: dovecotAddr, conns: map[string]*imaptest.Conn{}, dead: map[string]string{}, norm: newNormaliser()}
	pc := &session{name: "pochta", addr: pochtaAddr, conns: map[string]*imaptest.Conn{}, dead: map[string]string{}, norm: newNormaliser()}
	defer dc.close()
	defer pc.close()
	differ := 0
	for i, st := range script {
		d, p := dc.run(st), pc.run(st)
		want := d.lines
		if st.expect != nil {
			want = st.expect
			if strings.Join(d.lines, "\n") != strings.Join(p.lines, "\n") {
				verb := "Dovecot deviates"
				if st.either {
					verb = "Dovecot answers otherwise, also allowed"
				}
				t.Logf("step %d %s: %s (%s): %s", i+1, st, verb, st.why, strings.Join(d.lines, " | "))
			}
		}
		if matches(want, p.lines, st.expect != nil) || st.either && matches(d.lines, p.lines, false) {
			continue
		}
		differ++
		source := "dovecot"
		if st.expect != nil {
			source = "expected (" + st.why + ")"
		}
		t.Errorf("step %d %s\n  %s (normalised):\n    %s\n  pochta (normalised):\n    %s\n  dovecot raw:\n    %s\n  pochta raw:\n    %s",
			i+1, st, source, strings.Join(want, "\n    "), strings.Join(p.lines, "\n    "),
			rawLines(d.raw), rawLines(p.raw))
	}
	t.Logf("%d of %d steps differ", differ, len(script))
}

func rawLines(raw []string) string {
	var out []string
	for _, r := range raw {
		r = strings.TrimRight(r, "\r\n")
		if len(r) > 400 {
			r = r[:400] + "..."
		}
		out = append(out, fmt.Sprintf("%q", r))
	}
	return strings.Join(out, "\n    ")
}

func TestIMAPDifferentialDovecot(t *testing.T) {
	groups := diffScripts()
	users := map[string]string{}
	for _, g := range groups {
		users[g.name+"@example.test"] = diffPass
	}
	dv := startDovecot(t, users)
	in := newInstance(t, "example.test")
	for u := range users {
		in.addUser(u, diffPass)
	}
	in.serve([]string{"imap"})
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			diffServers(t, g.steps(g.name+"@example.test"), dv.addr, in.addrs["imap"])
		})
	}
}

// matches compares normalised outputs; with prefix, each wanted line need
// only start the line received (an expectation "tag NO" accepts any code).
func matches(want, got []string, prefix bool) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != got[i] && !(prefix && strings.HasPrefix(got[i], want[i])) && !sameNO(want[i], got[i]) {
			return false
		}
	}
	return true
}

// sameNO: a NO without a code matches a NO with one (RFC 5530 §3), and
// OK matches NO [EXPUNGEISSUED] (RFC 9051 §7.1, RFC 2180 §4.1).
func sameNO(a, b string) bool {
	if a == "tag OK" && b == "tag NO [EXPUNGEISSUED]" || b == "tag OK" && a == "tag NO [EXPUNGEISSUED]" {
		return true
	}
	for _, p := range []string{"tag NO", "* NO"} {
		if (a == p && strings.HasPrefix(b, p+" [")) || (b == p && strings.HasPrefix(a, p+" [")) {
			return true
		}
	}
	return false
}
