package sieve

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
)

// Message is what the interpreter sees of a message.
type Message interface {
	// Header returns the values of the named header fields, in order,
	// unfolded and with RFC 2047 encoded words decoded. The name is
	// matched case-insensitively.
	Header(name string) []string
	// Size is the message size in octets.
	Size() int64
}

// Input is one message delivery to one recipient.
type Input struct {
	From string // envelope MAIL FROM; "" is the null reverse-path
	To   string // envelope RCPT TO of this recipient
	Msg  Message
	// MailboxExists answers the mailboxexists test (RFC 5490). Nil means
	// no mailbox exists.
	MailboxExists func(name string) bool
	// Duplicate answers the duplicate test (RFC 7352): whether the key
	// is on record for the account. Nil means never.
	Duplicate func(key string) (bool, error)
	// Now is the time of delivery for currentdate and the local zone of
	// date (RFC 5260); zero means time.Now().
	Now time.Time
}

// ActionKind is the kind of an Action.
type ActionKind uint8

const (
	ActionKeep ActionKind = iota + 1 // store in the default mailbox
	ActionFileinto
	ActionRedirect
	ActionDiscard // the message is stored nowhere
	ActionVacation
	ActionReject    // refuse the message with Reason (RFC 5429)
	ActionDuplicate // record Duplicate once the message is delivered (RFC 7352)
)

func (k ActionKind) String() string {
	return [...]string{"", "keep", "fileinto", "redirect", "discard", "vacation", "reject", "duplicate"}[k]
}

// Action is one thing the script asks the delivery to do.
type Action struct {
	Kind     ActionKind
	Mailbox  string   // fileinto
	Create   bool     // fileinto :create (RFC 5490)
	Flags    []string // keep, fileinto: flags to set (RFC 5232), nil for none
	Address  string   // redirect
	Vacation *Vacation
	Reason   string // reject, ereject
	// Header is, for keep, fileinto and redirect, the message's header
	// fields as editheader left them when the action ran, without the
	// blank line ending the section; nil when the header is unchanged.
	Header []byte
	// Duplicate is the id of a duplicate test (ActionDuplicate).
	Duplicate *Duplicate
}

func (a Action) String() string {
	s := a.Kind.String()
	switch a.Kind {
	case ActionFileinto:
		s += " " + a.Mailbox
		if a.Create {
			s += " :create"
		}
	case ActionRedirect:
		s += " " + a.Address
	case ActionVacation:
		s += fmt.Sprintf(" days=%d handle=%s", a.Vacation.Days, a.Vacation.Handle)
	case ActionReject:
		s += fmt.Sprintf(" %q", a.Reason)
	case ActionDuplicate:
		s += fmt.Sprintf(" %s %v", a.Duplicate.Key[:8], a.Duplicate.Period)
		if a.Duplicate.Last {
			s += " :last"
		}
	}
	if len(a.Flags) > 0 {
		s += " flags=" + strings.Join(a.Flags, " ")
	}
	return s
}

// Vacation carries the parameters of a vacation action (RFC 5230). Whether
// a reply is sent (never to lists, bulk, auto-submitted mail or the null
// sender; once per sender, handle and period) is decided by the sender.
type Vacation struct {
	Days      uint64
	Subject   string
	From      string
	Addresses []string
	MIME      bool
	Handle    string
	Reason    string
}

// ErrRuntime wraps errors that ended a run early; the result then holds
// only a keep (RFC 5228 2.10.6).
var ErrRuntime = errors.New("sieve: runtime error")

// Run executes p for in. On a runtime error it returns a result with just a
// keep and an error wrapping ErrRuntime, so no mail is lost.
func (p *Program) Run(in *Input) ([]Action, error) {
	r := &run{in: in, lim: p.lim, vars: p.vars}
	if err := r.exec(p.cmds); err != nil && !errors.Is(err, errStop) {
		return []Action{{Kind: ActionKeep}}, fmt.Errorf("%w: %w", ErrRuntime, err)
	}
	actions := r.finish()
	if err := checkReject(actions); err != nil {
		return []Action{{Kind: ActionKeep}}, fmt.Errorf("%w: %w", ErrRuntime, err)
	}
	return actions, nil
}

// checkReject enforces RFC 5429 section 2.2: one reject at most, never
// with vacation, nor (our choice of the SHOULD) with an action that
// delivers the message.
func checkReject(actions []Action) error {
	rejects, others := 0, ""
	for _, a := range actions {
		switch a.Kind {
		case ActionReject:
			rejects++
		case ActionKeep, ActionFileinto, ActionRedirect, ActionVacation:
			others = a.Kind.String()
		}
	}
	switch {
	case rejects > 1:
		return errors.New("more than one reject")
	case rejects == 1 && others != "":
		return fmt.Errorf("reject together with %s", others)
	}
	return nil
}

var errStop = errors.New("stop")

type run struct {
	in        *Input
	lim       Limits
	steps     int64
	flags     []string // the internal flag variable (RFC 5232 3)
	actions   []Action
	cancelled bool // implicit keep cancelled
	discarded bool
	redirects int
	vacation  bool

	vars      bool              // the script uses variables (RFC 5229)
	varValues map[string]string // by lower-case name
	match     []string          // ${0}..${9}
	regexps   map[string]*regexp.Regexp

	nowT time.Time // Input.Now, or the time of the first date test

	fields      []HeaderField // editheader (RFC 5293): nil until the first edit
	headerSize  int
	headerBytes []byte              // fields joined, nil after an edit
	edited      bool                // fields differ from the message's
	hcache      map[string][]string // header values by lower-case name, before any edit
	addrs       map[string][]string // the addr-specs of a header value

	rawRead bool            // body test (RFC 5173): the message was read
	raw     []byte          // its first Limits.MaxBody octets
	parts   []*message.Part // its content parts, parsed once
}

func (r *run) charge(n int64) error {
	r.steps += n
	if r.steps > r.lim.MaxSteps {
		return errSteps
	}
	return nil
}

func (r *run) exec(cmds []node) error {
	for _, n := range cmds {
		if err := r.charge(1); err != nil {
			return err
		}
		if err := n.exec(r); err != nil {
			return err
		}
	}
	return nil
}

// add appends an action unless an identical one is there already
// (RFC 5228 2.10.3: duplicates are done once).
func (r *run) add(a Action) error {
	for _, b := range r.actions {
		if a.Kind == b.Kind && a.Mailbox == b.Mailbox && a.Address == b.Address {
			return nil
		}
	}
	if len(r.actions) >= r.lim.MaxActions {
		return fmt.Errorf("more than %d actions", r.lim.MaxActions)
	}
	r.actions = append(r.actions, a)
	return nil
}

// finish adds the implicit keep or a discard marker.
func (r *run) finish() []Action {
	if !r.cancelled {
		_ = r.add(Action{Kind: ActionKeep, Flags: r.currentFlags(), Header: r.editedHeader()})
	}
	stored := false
	for _, a := range r.actions {
		stored = stored || a.Kind == ActionKeep || a.Kind == ActionFileinto || a.Kind == ActionRedirect ||
			a.Kind == ActionReject
	}
	if !stored {
		r.actions = append(r.actions, Action{Kind: ActionDiscard})
	}
	return r.actions
}

func (r *run) currentFlags() []string {
	if len(r.flags) == 0 {
		return nil
	}
	return append([]string(nil), r.flags...)
}

type node interface{ exec(r *run) error }

type (
	stopNode    struct{}
	discardNode struct{}
	rejectNode  struct{ reason string }
	keepNode    struct {
		flags    []string
		hasFlags bool
	}
	fileintoNode struct {
		mailbox      string
		copy, create bool
		flags        []string
		hasFlags     bool
	}
	redirectNode struct {
		addr    string
		copy    bool
		dynamic bool // addr has variables: checked when it runs
	}
	flagNode struct {
		op       string
		variable string // "" for the internal variable (RFC 5232 3)
		flags    []string
	}
	vacationNode struct {
		v              *Vacation
		explicitHandle bool
	}
	ifNode struct {
		conds  []test
		bodies [][]node
		els    []node
	}
)

func (stopNode) exec(*run) error { return errStop }

// rejectNode refuses the message; like discard it cancels the implicit
// keep (RFC 5429 2.1). Two rejects are an error (checkReject), so the
// duplicate rule of add must not merge them.
func (n *rejectNode) exec(r *run) error {
	r.cancelled = true
	if len(r.actions) >= r.lim.MaxActions {
		return fmt.Errorf("more than %d actions", r.lim.MaxActions)
	}
	r.actions = append(r.actions, Action{Kind: ActionReject, Reason: r.x(n.reason)})
	return nil
}

func (discardNode) exec(r *run) error {
	r.cancelled = true
	return nil
}

func (n *keepNode) exec(r *run) error {
	flags := r.currentFlags()
	if n.hasFlags {
		flags = normFlags(r.xs(n.flags))
	}
	return r.add(Action{Kind: ActionKeep, Flags: flags, Header: r.editedHeader()})
}

func (n *fileintoNode) exec(r *run) error {
	flags := r.currentFlags()
	if n.hasFlags {
		flags = normFlags(r.xs(n.flags))
	}
	mbox := r.x(n.mailbox)
	if mbox == "" {
		return errors.New("fileinto: empty mailbox name")
	}
	if !n.copy {
		r.cancelled = true
	}
	return r.add(Action{Kind: ActionFileinto, Mailbox: mbox, Create: n.create, Flags: flags, Header: r.editedHeader()})
}

func (n *redirectNode) exec(r *run) error {
	addr := n.addr
	if n.dynamic {
		var ok bool
		if addr, ok = redirectAddress(r.x(n.addr)); !ok {
			return fmt.Errorf("redirect: invalid address %q", r.x(n.addr))
		}
	}
	if !n.copy {
		r.cancelled = true
	}
	r.redirects++
	if r.redirects > r.lim.MaxRedirects {
		return fmt.Errorf("more than %d redirects", r.lim.MaxRedirects)
	}
	return r.add(Action{Kind: ActionRedirect, Address: addr, Header: r.editedHeader()})
}

func (n *vacationNode) exec(r *run) error {
	if r.vacation {
		return errors.New("vacation executed twice")
	}
	r.vacation = true
	// A copy, so callers cannot change the compiled Program.
	v := *n.v
	v.Addresses = slices.Clone(r.xs(v.Addresses))
	if r.vars {
		v.Subject, v.From, v.Reason = r.x(v.Subject), r.x(v.From), r.x(v.Reason)
		if n.explicitHandle {
			v.Handle = r.x(v.Handle)
		} else if v.Subject != n.v.Subject || v.From != n.v.From || v.Reason != n.v.Reason {
			v.Handle = vacationHandle(&v)
		}
	}
	return r.add(Action{Kind: ActionVacation, Vacation: &v})
}

func (n *flagNode) exec(r *run) error {
	add := normFlags(r.xs(n.flags))
	cur := r.flags
	if n.variable != "" {
		cur = normFlags([]string{r.varValues[foldASCII(n.variable)]})
	}
	switch n.op {
	case "setflag":
		cur = add
	case "addflag":
		cur = normFlags(append(append([]string(nil), cur...), add...))
	case "removeflag":
		var keep []string
		for _, f := range cur {
			if !containsFold(add, f) {
				keep = append(keep, f)
			}
		}
		cur = keep
	}
	if n.variable != "" {
		return r.setVar(n.variable, strings.Join(cur, " "))
	}
	r.flags = cur
	return nil
}

// normFlags splits space-separated flag lists and drops empty and
// duplicate names; flag names compare case-insensitively (RFC 5232 3).
func normFlags(in []string) []string {
	var out []string
	for _, s := range in {
		for _, f := range strings.Fields(s) {
			if !containsFold(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

func (n *ifNode) exec(r *run) error {
	for i, c := range n.conds {
		ok, err := c.eval(r)
		if err != nil {
			return err
		}
		if ok {
			return r.exec(n.bodies[i])
		}
	}
	return r.exec(n.els)
}
