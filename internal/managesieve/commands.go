package managesieve

import (
	"encoding/base64"
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
)

// command is one row of the command table: the states it is legal in and
// the kinds of its arguments (checked before run).
type command struct {
	states   state
	args     []argKind // required arguments
	optional []argKind // may follow them
	run      func(ss *session, args []arg) error
}

// commands is the command table (RFC 5804 section 2). UNAUTHENTICATE and
// the REFERRAL machinery are not implemented.
var commands = map[string]*command{
	"CAPABILITY":   {states: stateAny, run: (*session).cmdCapability},
	"LOGOUT":       {states: stateAny, run: (*session).cmdLogout},
	"NOOP":         {states: stateAny, optional: []argKind{argString}, run: (*session).cmdNoop},
	"STARTTLS":     {states: stateNonAuth, run: (*session).cmdStartTLS},
	"AUTHENTICATE": {states: stateNonAuth, args: []argKind{argString}, optional: []argKind{argString}, run: (*session).cmdAuthenticate},
	"HAVESPACE":    {states: stateAuth, args: []argKind{argString, argNumber}, run: (*session).cmdHaveSpace},
	"PUTSCRIPT":    {states: stateAuth, args: []argKind{argString, argString}, run: (*session).cmdPutScript},
	"CHECKSCRIPT":  {states: stateAuth, args: []argKind{argString}, run: (*session).cmdCheckScript},
	"LISTSCRIPTS":  {states: stateAuth, run: (*session).cmdListScripts},
	"SETACTIVE":    {states: stateAuth, args: []argKind{argString}, run: (*session).cmdSetActive},
	"GETSCRIPT":    {states: stateAuth, args: []argKind{argString}, run: (*session).cmdGetScript},
	"DELETESCRIPT": {states: stateAuth, args: []argKind{argString}, run: (*session).cmdDeleteScript},
	"RENAMESCRIPT": {states: stateAuth, args: []argKind{argString, argString}, run: (*session).cmdRenameScript},
}

// check verifies the number and kinds of arguments.
func (c *command) check(args []arg) error {
	if len(args) < len(c.args) || len(args) > len(c.args)+len(c.optional) {
		return &protoError{msg: "Wrong number of arguments", bad: true}
	}
	kinds := append(slices.Clip(c.args), c.optional...)
	for i, a := range args {
		if a.kind != kinds[i] {
			return &protoError{msg: "Wrong argument type", bad: true}
		}
	}
	return nil
}

func (ss *session) ok(text string) error {
	if err := ss.respond(okReply(text)); err != nil {
		return &endSession{reason: "write failed"}
	}
	return nil
}

func (ss *session) cmdCapability([]arg) error {
	ss.capabilities()
	return ss.ok("")
}

func (ss *session) cmdLogout([]arg) error {
	_ = ss.ok("Logout complete")
	return &endSession{reason: "logout"}
}

// cmdNoop: NOOP [tag] answers OK (TAG "tag") when given one (RFC 5804 2.13).
func (ss *session) cmdNoop(args []arg) error {
	if len(args) == 1 {
		if err := ss.respond("OK (TAG " + quote(args[0].s) + ") \"Done\"\r\n"); err != nil {
			return &endSession{reason: "write failed"}
		}
		return nil
	}
	return ss.ok("Done")
}

func (ss *session) cmdStartTLS([]arg) error {
	if ss.isTLS || ss.srv.TLSConfig == nil {
		return &protoError{msg: "TLS is not available", bad: true}
	}
	return ss.starttls()
}

// cmdAuthenticate: AUTHENTICATE mechanism [initial-response] (RFC 5804
// 2.1), with the login service IMAP and POP3 use.
func (ss *session) cmdAuthenticate(args []arg) error {
	mech := strings.ToUpper(args[0].s)
	if !slices.Contains(ss.srv.Auth.Mechanisms(ss.plaintextOK()), mech) {
		if slices.Contains(ss.srv.Auth.Mechanisms(true), mech) {
			return &protoError{code: "ENCRYPT-NEEDED", msg: "Use STARTTLS first", bad: true}
		}
		return &protoError{msg: "Unsupported mechanism", bad: true}
	}
	exchange, err := ss.srv.Auth.NewSASL(ss.ctx, mech, ss.srv.Hostname)
	if err != nil {
		return &protoError{msg: "Unsupported mechanism", bad: true}
	}
	var resp []byte // nil: no initial response
	if len(args) == 2 {
		if resp, err = auth.DecodeResponse(args[1].s); err != nil {
			return &protoError{msg: "Invalid base64", bad: true}
		}
	}
	for {
		challenge, done, err := exchange.Next(resp)
		if err != nil {
			return ss.loginFailed(exchange.Login(), err)
		}
		if done {
			acct := exchange.Account()
			ss.srv.Auth.LoginSucceeded(acct.Address, ss.ip)
			ss.account, ss.state = acct, stateAuth
			ss.log = ss.log.With("user", acct.Address)
			ss.log.Info("managesieve: logged in", "mech", mech, "tls", ss.isTLS)
			return ss.ok("Logged in")
		}
		if err := ss.respond(quote(base64.StdEncoding.EncodeToString(challenge)) + "\r\n"); err != nil {
			return &endSession{reason: "write failed"}
		}
		args, err := ss.readCommandArgs()
		if err != nil {
			return err
		}
		if len(args) != 1 || args[0].kind != argString {
			return &protoError{msg: "Expected a string", bad: true}
		}
		if args[0].s == "*" {
			return &protoError{msg: "Authentication aborted", bad: true}
		}
		if resp, err = auth.DecodeResponse(args[0].s); err != nil {
			return &protoError{msg: "Invalid base64", bad: true}
		}
	}
}

// readCommandArgs reads one SASL response line: a string, quoted or literal.
func (ss *session) readCommandArgs() ([]arg, error) {
	line, err := ss.r.readLine()
	if err != nil {
		return nil, ss.readFailed(err)
	}
	args, lit, err := tokenize(line)
	if err != nil {
		return nil, ss.readFailed(err)
	}
	if lit >= 0 {
		if lit > maxLine || len(args) > 0 {
			return nil, ss.readFailed(ss.r.skipCommand(lit, errSyntax))
		}
		buf := make([]byte, lit)
		if _, err := io.ReadFull(ss.br, buf); err != nil {
			return nil, ss.readFailed(err)
		}
		if rest, err := ss.r.readLine(); err != nil || len(rest) > 0 {
			return nil, &protoError{msg: "Syntax error", bad: true}
		}
		return []arg{{kind: argString, s: string(buf)}}, nil
	}
	return args, nil
}

func (ss *session) loginFailed(login string, err error) error {
	if !errors.Is(err, auth.ErrFailed) && !errors.Is(err, auth.ErrBadBase64) {
		ss.log.Warn("managesieve: login failed", "login", login, "err", err)
	}
	ss.srv.Auth.LoginFailed(ss.ctx, login, ss.ip)
	ss.log.Info("managesieve: authentication failed", "login", login)
	return &protoError{msg: "Authentication failed", bad: true}
}

func (ss *session) cmdHaveSpace(args []arg) error {
	if err := ss.srv.Scripts.HaveSpace(ss.ctx, ss.account.ID, args[0].s, args[1].n); err != nil {
		return err
	}
	return ss.ok("")
}

func (ss *session) cmdPutScript(args []arg) error {
	if err := ss.srv.Scripts.Put(ss.ctx, ss.account.ID, args[0].s, args[1].s); err != nil {
		return err
	}
	ss.log.Info("managesieve: script stored", "script", args[0].s, "octets", len(args[1].s))
	return ss.ok("")
}

func (ss *session) cmdCheckScript(args []arg) error {
	if err := ss.srv.Scripts.Check(args[0].s); err != nil {
		return err
	}
	return ss.ok("")
}

func (ss *session) cmdListScripts([]arg) error {
	list, err := ss.srv.Scripts.List(ss.ctx, ss.account.ID)
	if err != nil {
		return err
	}
	for _, sc := range list {
		ss.w.WriteString(quote(sc.Name))
		if sc.Active {
			ss.w.WriteString(" ACTIVE")
		}
		ss.w.WriteString("\r\n")
	}
	return ss.ok("")
}

func (ss *session) cmdSetActive(args []arg) error {
	if err := ss.srv.Scripts.Activate(ss.ctx, ss.account.ID, args[0].s); err != nil {
		return err
	}
	return ss.ok("")
}

func (ss *session) cmdGetScript(args []arg) error {
	sc, err := ss.srv.Scripts.Get(ss.ctx, ss.account.ID, args[0].s)
	if err != nil {
		return err
	}
	ss.w.WriteString(literal(sc.Source))
	ss.w.WriteString("\r\n")
	return ss.ok("")
}

func (ss *session) cmdDeleteScript(args []arg) error {
	if err := ss.srv.Scripts.Delete(ss.ctx, ss.account.ID, args[0].s); err != nil {
		return err
	}
	return ss.ok("")
}

func (ss *session) cmdRenameScript(args []arg) error {
	if err := ss.srv.Scripts.Rename(ss.ctx, ss.account.ID, args[0].s, args[1].s); err != nil {
		return err
	}
	return ss.ok("")
}
