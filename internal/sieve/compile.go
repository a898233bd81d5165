package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"strings"
)

// Extensions lists the capabilities require accepts, as ManageSieve will
// advertise them.
var Extensions = []string{
	"comparator-i;ascii-casemap", "comparator-i;ascii-numeric", "comparator-i;octet",
	"copy", "encoded-character", "envelope", "fileinto", "imap4flags", "mailbox", "relational", "subaddress", "vacation",
	"reject", "ereject", "variables", "regex", "body", "date", "index", "editheader", "duplicate",
}

// Program is a compiled script, safe to run concurrently.
type Program struct {
	cmds []node
	lim  Limits
	vars bool // the script requires variables
}

// Compile parses src and checks every command, test and argument, including
// that each extension used was required (RFC 5228 3.2).
func Compile(src string, lim Limits) (*Program, error) {
	lim = lim.orDefault()
	ast, err := Parse(src, lim)
	if err != nil {
		return nil, err
	}
	c := &compiler{req: map[string]bool{}, lim: lim}
	cmds, err := c.block(ast, true)
	if err != nil {
		return nil, err
	}
	return &Program{cmds: cmds, lim: lim, vars: c.req["variables"]}, nil
}

type compiler struct {
	req map[string]bool
	lim Limits
}

// dynamic reports whether s is expanded at run time (it references a
// variable), so checks of its value wait until then.
func (c *compiler) dynamic(s string) bool { return c.req["variables"] && hasVarRef(s) }

func (c *compiler) need(ext string, p Pos, what string) error {
	if !c.req[ext] {
		return errAt(p, "%s needs require %q", what, ext)
	}
	return nil
}

// argv is the arguments of one command or test, split into tags (with the
// value that follows, if the tag takes one) and positional arguments.
type argv struct {
	name       string
	pos        Pos
	tags       map[string]Arg
	positional []Arg
}

type tagTakes uint8

const (
	takesNothing tagTakes = iota
	takesString
	takesStrings
	takesNumber
)

// tagSpec describes a tag: what follows it and which mutually exclusive
// group it belongs to ("" for none).
type tagSpec struct {
	takes tagTakes
	group string
	ext   string // extension that must be required
}

var (
	matchTags = map[string]tagSpec{"is": {group: "match"}, "contains": {group: "match"},
		"matches": {group: "match"}, "comparator": {takes: takesString},
		"value": {group: "match", takes: takesString, ext: "relational"},
		"count": {group: "match", takes: takesString, ext: "relational"},
		"regex": {group: "match", ext: "regex"}}
	addressTags = map[string]tagSpec{"all": {group: "part"}, "localpart": {group: "part"},
		"domain": {group: "part"}, "user": {group: "part", ext: "subaddress"},
		"detail": {group: "part", ext: "subaddress"}}
)

func merge(ms ...map[string]tagSpec) map[string]tagSpec {
	out := map[string]tagSpec{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// split sorts args into tags and positional arguments and checks the count
// of positional ones (unless npos < 0). Tags must come before positional
// arguments.
func (c *compiler) split(name string, p Pos, args []Arg, spec map[string]tagSpec, npos int) (*argv, error) {
	a := &argv{name: name, pos: p, tags: map[string]Arg{}}
	groups := map[string]string{}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg.Kind != ArgTag {
			a.positional = append(a.positional, arg)
			continue
		}
		if len(a.positional) > 0 {
			return nil, errAt(arg.Pos, "%s: tag :%s after positional arguments", name, arg.Tag)
		}
		ts, ok := spec[arg.Tag]
		if !ok {
			return nil, errAt(arg.Pos, "%s: unknown tag :%s", name, arg.Tag)
		}
		if ts.ext != "" {
			if err := c.need(ts.ext, arg.Pos, ":"+arg.Tag); err != nil {
				return nil, err
			}
		}
		if _, dup := a.tags[arg.Tag]; dup {
			return nil, errAt(arg.Pos, "%s: tag :%s given twice", name, arg.Tag)
		}
		if ts.group != "" {
			if prev, dup := groups[ts.group]; dup {
				return nil, errAt(arg.Pos, "%s: :%s conflicts with :%s", name, arg.Tag, prev)
			}
			groups[ts.group] = arg.Tag
		}
		val := arg
		if ts.takes != takesNothing {
			if i+1 >= len(args) {
				return nil, errAt(arg.Pos, "%s: :%s needs a value", name, arg.Tag)
			}
			i++
			val = args[i]
			switch {
			case ts.takes == takesNumber && val.Kind != ArgNumber:
				return nil, errAt(val.Pos, "%s: :%s needs a number", name, arg.Tag)
			case ts.takes == takesString && (val.Kind != ArgStrings || len(val.Strs) != 1):
				return nil, errAt(val.Pos, "%s: :%s needs a string", name, arg.Tag)
			case ts.takes == takesStrings && val.Kind != ArgStrings:
				return nil, errAt(val.Pos, "%s: :%s needs a string list", name, arg.Tag)
			}
		}
		a.tags[arg.Tag] = val
	}
	if npos >= 0 && len(a.positional) != npos {
		return nil, errAt(p, "%s takes %d positional argument(s), found %d", name, npos, len(a.positional))
	}
	return a, nil
}

func (a *argv) has(tag string) bool { _, ok := a.tags[tag]; return ok }

func (a *argv) str(tag string) string {
	if v, ok := a.tags[tag]; ok {
		return v.Strs[0]
	}
	return ""
}

// strings returns positional argument i, which must be a string or list.
func (a *argv) strings(i int) ([]string, error) {
	v := a.positional[i]
	if v.Kind != ArgStrings {
		return nil, errAt(v.Pos, "%s: argument %d must be a string or string list", a.name, i+1)
	}
	return v.Strs, nil
}

// string returns positional argument i, which must be a single string.
func (a *argv) string(i int) (string, error) {
	v := a.positional[i]
	if v.Kind != ArgStrings || len(v.Strs) != 1 {
		return "", errAt(v.Pos, "%s: argument %d must be a single string", a.name, i+1)
	}
	return v.Strs[0], nil
}

func (c *compiler) noTests(name string, p Pos, tests []*Test) error {
	if len(tests) > 0 {
		return errAt(p, "%s takes no test", name)
	}
	return nil
}

// block compiles a list of commands. top is true for the script level,
// the only place require may appear, and only before other commands.
func (c *compiler) block(cmds []*Command, top bool) ([]node, error) {
	var out []node
	seenOther := false
	for i := 0; i < len(cmds); i++ {
		cmd := cmds[i]
		if cmd.Name == "require" {
			if !top || seenOther {
				return nil, errAt(cmd.Pos, "require must come before any other command")
			}
			if err := c.require(cmd); err != nil {
				return nil, err
			}
			continue
		}
		seenOther = true
		if c.req["encoded-character"] && cmd.Name != "if" { // ifChain decodes its own
			if err := decodeArgs(cmd.Args, cmd.Tests); err != nil {
				return nil, err
			}
		}
		if cmd.Name == "elsif" || cmd.Name == "else" {
			return nil, errAt(cmd.Pos, "%s without a preceding if", cmd.Name)
		}
		if cmd.Name == "if" {
			n, used, err := c.ifChain(cmds[i:])
			if err != nil {
				return nil, err
			}
			out = append(out, n)
			i += used - 1
			continue
		}
		if cmd.HasBlock {
			return nil, errAt(cmd.Pos, "%s takes no block", cmd.Name)
		}
		if err := c.noTests(cmd.Name, cmd.Pos, cmd.Tests); err != nil {
			return nil, err
		}
		n, err := c.action(cmd)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (c *compiler) require(cmd *Command) error {
	if cmd.HasBlock {
		return errAt(cmd.Pos, "require takes no block")
	}
	if err := c.noTests("require", cmd.Pos, cmd.Tests); err != nil {
		return err
	}
	a, err := c.split("require", cmd.Pos, cmd.Args, nil, 1)
	if err != nil {
		return err
	}
	exts, err := a.strings(0)
	if err != nil {
		return err
	}
	for _, e := range exts {
		known := false
		for _, k := range Extensions {
			known = known || k == e
		}
		if !known {
			return errAt(a.positional[0].Pos, "unsupported extension %q", e)
		}
		c.req[e] = true
	}
	return nil
}

// redirectAddress checks a redirect address (RFC 5228 4.2: a valid
// RFC 5322 address) and returns its addr-spec.
func redirectAddress(addr string) (string, bool) {
	pa, err := mail.ParseAddress(addr)
	if err != nil || strings.IndexByte(pa.Address, '@') <= 0 {
		return "", false
	}
	return pa.Address, true
}

// ifChain compiles if, its elsif commands and an optional else.
func (c *compiler) ifChain(cmds []*Command) (node, int, error) {
	n := &ifNode{}
	used := 0
	for used < len(cmds) {
		cmd := cmds[used]
		if used > 0 && cmd.Name != "elsif" && cmd.Name != "else" {
			break
		}
		if !cmd.HasBlock {
			return nil, 0, errAt(cmd.Pos, "%s needs a block", cmd.Name)
		}
		if len(cmd.Args) > 0 {
			return nil, 0, errAt(cmd.Args[0].Pos, "%s takes no arguments besides a test", cmd.Name)
		}
		if c.req["encoded-character"] {
			if err := decodeArgs(nil, cmd.Tests); err != nil {
				return nil, 0, err
			}
		}
		body, err := c.block(cmd.Block, false)
		if err != nil {
			return nil, 0, err
		}
		used++
		if cmd.Name == "else" {
			if err := c.noTests("else", cmd.Pos, cmd.Tests); err != nil {
				return nil, 0, err
			}
			n.els = body
			break
		}
		if len(cmd.Tests) != 1 {
			return nil, 0, errAt(cmd.Pos, "%s needs exactly one test", cmd.Name)
		}
		t, err := c.test(cmd.Tests[0])
		if err != nil {
			return nil, 0, err
		}
		n.conds = append(n.conds, t)
		n.bodies = append(n.bodies, body)
	}
	return n, used, nil
}

var flagsTag = map[string]tagSpec{"flags": {takes: takesStrings, ext: "imap4flags"}}

func (c *compiler) action(cmd *Command) (node, error) {
	p := cmd.Pos
	switch cmd.Name {
	case "stop":
		_, err := c.split(cmd.Name, p, cmd.Args, nil, 0)
		return stopNode{}, err
	case "discard":
		_, err := c.split(cmd.Name, p, cmd.Args, nil, 0)
		return discardNode{}, err
	case "reject", "ereject":
		// RFC 5429: reject "reason" / ereject "reason".
		if err := c.need(cmd.Name, p, cmd.Name); err != nil {
			return nil, err
		}
		a, err := c.split(cmd.Name, p, cmd.Args, nil, 1)
		if err != nil {
			return nil, err
		}
		reason, err := a.string(0)
		if err != nil {
			return nil, err
		}
		return &rejectNode{reason: reason}, nil
	case "keep":
		a, err := c.split(cmd.Name, p, cmd.Args, flagsTag, 0)
		if err != nil {
			return nil, err
		}
		return &keepNode{flags: a.tags["flags"].Strs, hasFlags: a.has("flags")}, nil
	case "fileinto":
		if err := c.need("fileinto", p, "fileinto"); err != nil {
			return nil, err
		}
		spec := merge(flagsTag, map[string]tagSpec{"copy": {ext: "copy"}, "create": {ext: "mailbox"}})
		a, err := c.split(cmd.Name, p, cmd.Args, spec, 1)
		if err != nil {
			return nil, err
		}
		mbox, err := a.string(0)
		if err != nil {
			return nil, err
		}
		if mbox == "" && !c.dynamic(mbox) {
			return nil, errAt(a.positional[0].Pos, "fileinto: empty mailbox name")
		}
		return &fileintoNode{mailbox: mbox, copy: a.has("copy"), create: a.has("create"),
			flags: a.tags["flags"].Strs, hasFlags: a.has("flags")}, nil
	case "redirect":
		a, err := c.split(cmd.Name, p, cmd.Args, map[string]tagSpec{"copy": {ext: "copy"}}, 1)
		if err != nil {
			return nil, err
		}
		addr, err := a.string(0)
		if err != nil {
			return nil, err
		}
		if c.dynamic(addr) {
			return &redirectNode{addr: addr, copy: a.has("copy"), dynamic: true}, nil
		}
		norm, ok := redirectAddress(addr)
		if !ok {
			return nil, errAt(a.positional[0].Pos, "redirect: invalid address %q", addr)
		}
		return &redirectNode{addr: norm, copy: a.has("copy")}, nil
	case "setflag", "addflag", "removeflag":
		if err := c.need("imap4flags", p, cmd.Name); err != nil {
			return nil, err
		}
		a, err := c.split(cmd.Name, p, cmd.Args, nil, -1)
		if err != nil {
			return nil, err
		}
		n := &flagNode{op: cmd.Name}
		switch len(a.positional) {
		case 1:
		case 2:
			// RFC 5232 3: the first argument names a variable.
			if err := c.need("variables", p, cmd.Name+" with a variable"); err != nil {
				return nil, err
			}
			if n.variable, err = a.string(0); err != nil {
				return nil, err
			}
			if !isIdentifier(n.variable) {
				return nil, errAt(a.positional[0].Pos, "%s: invalid variable name %q", cmd.Name, n.variable)
			}
		default:
			return nil, errAt(p, "%s takes one or two arguments, found %d", cmd.Name, len(a.positional))
		}
		if n.flags, err = a.strings(len(a.positional) - 1); err != nil {
			return nil, err
		}
		return n, nil
	case "set":
		return c.set(cmd)
	case "addheader":
		return c.addheader(cmd)
	case "deleteheader":
		return c.deleteheader(cmd)
	case "vacation":
		return c.vacation(cmd)
	}
	return nil, errAt(p, "unknown command %q", cmd.Name)
}

func (c *compiler) vacation(cmd *Command) (node, error) {
	if err := c.need("vacation", cmd.Pos, "vacation"); err != nil {
		return nil, err
	}
	spec := map[string]tagSpec{"days": {takes: takesNumber}, "subject": {takes: takesString},
		"from": {takes: takesString}, "addresses": {takes: takesStrings}, "mime": {},
		"handle": {takes: takesString}}
	a, err := c.split("vacation", cmd.Pos, cmd.Args, spec, 1)
	if err != nil {
		return nil, err
	}
	reason, err := a.string(0)
	if err != nil {
		return nil, err
	}
	v := &Vacation{Days: 7, Subject: a.str("subject"), From: a.str("from"),
		Addresses: a.tags["addresses"].Strs, MIME: a.has("mime"), Handle: a.str("handle"), Reason: reason}
	if a.has("days") {
		// RFC 5230 4.1: the minimum is 1; sites may impose a maximum.
		v.Days = min(max(a.tags["days"].Num, 1), c.lim.MaxVacationDays)
	}
	if v.From != "" && !c.dynamic(v.From) {
		if _, err := mail.ParseAddress(v.From); err != nil {
			return nil, errAt(a.tags["from"].Pos, "vacation: invalid :from address %q", v.From)
		}
	}
	if !a.has("handle") {
		v.Handle = vacationHandle(v)
	}
	return &vacationNode{v: v, explicitHandle: a.has("handle")}, nil
}

// vacationHandle is the handle of a vacation without :handle: scripts
// that differ in reason, :subject, :from or :mime get separate
// once-per-period tracking (RFC 5230 4.2).
func vacationHandle(v *Vacation) string {
	h := sha256.New()
	for _, s := range []string{v.Reason, v.Subject, v.From} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	if v.MIME {
		h.Write([]byte("mime"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
