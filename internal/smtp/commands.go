package smtp

import (
	"bytes"
	"cmp"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// state is where a session is in RFC 5321's command sequence (section
// 4.1.4): the transaction states MAIL and RCPT; BDAT's chunks in between
// are read by the message reader itself (data.go).
type state uint8

const (
	stateGreet state = iota // connected, not greeted (EHLO/HELO) yet
	stateReady              // greeted, no transaction
	stateMail               // MAIL accepted
	stateRcpt               // MAIL and at least one RCPT accepted
)

func (s state) String() string {
	return [...]string{"greet", "ready", "mail", "rcpt"}[s]
}

// states is a set of states.
type states uint8

func in(list ...state) states {
	var s states
	for _, st := range list {
		s |= 1 << st
	}
	return s
}

func (s states) has(st state) bool { return s&(1<<st) != 0 }

var anyState = in(stateGreet, stateReady, stateMail, stateRcpt)

// command is one row of the command table: where it is legal, what a
// client gets elsewhere, and what runs it. The table is checked once,
// before dispatch; TestCommandStates sends every command in every state
// it is not legal in.
type command struct {
	states states
	// refused is the reply in a state not in states (nil: 503).
	refused func(state) *Reply
	// run executes the command with its argument text (after the
	// verb's space). It returns the reply, or nil when it wrote its own.
	run func(ss *session, arg []byte) *Reply
	// metric names the command for the Metrics hook ("" = its verb).
	metric string
}

// commands is the table, by verb (set in init: BDAT's reader looks
// verbs up in it, which would otherwise be an initialization cycle).
var commands map[string]*command

func init() { commands = commandTable() }

func commandTable() map[string]*command {
	return map[string]*command{
		"EHLO": {states: anyState, run: (*session).cmdEHLO},
		"HELO": {states: anyState, run: (*session).cmdHELO},
		"MAIL": {states: in(stateReady), run: (*session).cmdMAIL, metric: "MAIL", refused: func(s state) *Reply {
			if s == stateGreet {
				return errNeedHello
			}
			return errNestedMail
		}},
		"RCPT": {states: in(stateMail, stateRcpt), run: (*session).cmdRCPT, metric: "RCPT"},
		"DATA": {states: in(stateRcpt), run: (*session).cmdDATA, metric: "DATA", refused: noRecipients},
		// BDAT counts as DATA: its time is the whole message's, as DATA's is.
		"BDAT": {states: in(stateRcpt), run: (*session).cmdBDAT, metric: "DATA", refused: noRecipients},
		"RSET": {states: anyState, run: (*session).cmdRSET},
		"NOOP": {states: anyState, run: func(*session, []byte) *Reply { return replyOK }},
		"QUIT": {states: anyState, run: (*session).cmdQUIT},
		// RFC 5321 section 3.5.3: 252 when the server will not say.
		"VRFY": {states: anyState, run: func(_ *session, arg []byte) *Reply {
			if len(bytes.TrimSpace(arg)) == 0 {
				return syntaxError("Syntax: VRFY user")
			}
			return replyVRFY
		}},
		"EXPN": {states: anyState, run: func(*session, []byte) *Reply { return replyNoEXPN }},
		"HELP": {states: anyState, run: func(*session, []byte) *Reply { return replyHelp }},
		"AUTH": {states: in(stateReady), run: (*session).cmdAUTH, refused: func(s state) *Reply {
			if s == stateGreet {
				return errNeedHello
			}
			return errAuthInMail
		}},
		// RFC 3207 section 4: not in the middle of a transaction.
		"STARTTLS": {states: in(stateGreet, stateReady), run: (*session).cmdSTARTTLS},
	}
}

var (
	replyOK     = reply(250, 2, 0, 0, "OK")
	replyVRFY   = reply(252, 2, 5, 0, "Cannot VRFY user, but will take a message for it and attempt delivery")
	replyNoEXPN = reply(502, 5, 5, 1, "EXPN is not available")
	replyHelp   = reply(214, 2, 0, 0, "See RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY AUTH STARTTLS")
	replyReset  = reply(250, 2, 0, 0, "Reset")
)

// noRecipients refuses DATA and BDAT: 503 before MAIL, 554 after a MAIL
// whose recipients were all refused (RFC 5321 section 3.3 allows both).
func noRecipients(s state) *Reply {
	if s == stateMail {
		return errNoRecipients
	}
	return errNeedRcpt
}

// refusal is the reply to cmd in state s, where it is not legal.
func (cmd *command) refusal(s state) *Reply {
	if cmd.refused != nil {
		return cmd.refused(s)
	}
	if s == stateGreet {
		return errNeedHello
	}
	return errBadSequence
}

// dispatch runs one command line and reports whether the session ends.
func (ss *session) dispatch(line []byte) bool {
	if hasControl(line) {
		return ss.respond(reply(500, 5, 5, 2, "Control characters are not allowed in commands"))
	}
	verb, arg := splitCommand(line)
	cmd := commands[verb]
	if cmd == nil {
		ss.log.Debug("smtp: unknown command", "verb", verb)
		ss.count("unknown", time.Now())
		return ss.respond(errUnknownCommand)
	}
	if !cmd.states.has(ss.state) {
		if verb == "BDAT" {
			// The chunk follows the command whatever the reply (RFC
			// 3030 section 2): skip it, or it would be read as commands.
			if n, _, err := parseBDAT(arg); err == nil && !ss.skip(n) {
				return true
			}
		}
		return ss.respond(cmd.refusal(ss.state))
	}
	start := time.Now()
	r := cmd.run(ss, arg)
	ss.count(cmp.Or(cmd.metric, verb), start)
	if r == nil {
		return ss.closing
	}
	return ss.respond(r)
}

// count reports a command and its latency to the Metrics hook. Names
// come from the table (or "unknown"), never from the client.
func (ss *session) count(name string, start time.Time) {
	if ss.srv.Metrics != nil {
		ss.srv.Metrics.Command("smtp", name, time.Since(start))
	}
}

// respond writes a reply and reports whether the session ends. Refusals
// (5xx) count: one too many, and the client gets 421 instead and the
// session ends.
func (ss *session) respond(r *Reply) bool {
	if permanent(r) {
		ss.errs++
		if ss.errs > ss.srv.maxErrors() {
			ss.log.Info("smtp: too many errors, closing", "errors", ss.errs)
			ss.endReason = "too many errors"
			r = errTooManyErrors
			ss.closing = true
			ss.lingerFor = server.LingerAfterRefusal
		}
	}
	ss.writeReply(r)
	return ss.closing
}

func (ss *session) cmdRSET(arg []byte) *Reply {
	if len(arg) > 0 {
		return syntaxError("RSET takes no argument")
	}
	ss.reset()
	return replyReset
}

func (ss *session) cmdQUIT([]byte) *Reply {
	ss.closing = true
	ss.endReason = "quit"
	return reply(221, 2, 0, 0, ss.srv.hostname()+" closing connection")
}
