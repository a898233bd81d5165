package sieve

// Limits bounds what a script may cost. The zero value means DefaultLimits.
type Limits struct {
	MaxScriptSize   int    // bytes of script text
	MaxDepth        int    // nesting of blocks and tests
	MaxCommands     int    // commands and tests in the whole script
	MaxString       int    // bytes in one string
	MaxListLen      int    // strings in one string list
	MaxSteps        int64  // match work (roughly bytes compared) per run
	MaxRedirects    int    // redirect actions per run
	MaxActions      int    // actions per run
	MaxVacationDays uint64 // upper bound for vacation :days
	MaxVariables    int    // variables one run may set (RFC 5229)
	MaxVariableSize int    // octets of one variable's value
	MaxBody         int    // octets of the message the body test reads (RFC 5173)
	MaxHeader       int    // octets of the header editheader may grow to (RFC 5293)
}

// DefaultLimits are generous for hand-written and generated scripts while
// keeping one compile and one run well under a millisecond-scale budget.
var DefaultLimits = Limits{
	MaxScriptSize:   256 << 10,
	MaxDepth:        32,
	MaxCommands:     4096,
	MaxString:       64 << 10,
	MaxListLen:      1024,
	MaxSteps:        16 << 20,
	MaxRedirects:    4,
	MaxActions:      64,
	MaxVacationDays: 365,
	MaxVariables:    256,
	MaxVariableSize: 4096, // RFC 5229 5: at least 4000 characters
	MaxBody:         1 << 20,
	MaxHeader:       256 << 10, // the delivery filter step's own bound
}

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MaxScriptSize, d.MaxScriptSize)
	pick(&l.MaxDepth, d.MaxDepth)
	pick(&l.MaxCommands, d.MaxCommands)
	pick(&l.MaxString, d.MaxString)
	pick(&l.MaxListLen, d.MaxListLen)
	pick(&l.MaxRedirects, d.MaxRedirects)
	pick(&l.MaxActions, d.MaxActions)
	pick(&l.MaxVariables, d.MaxVariables)
	pick(&l.MaxVariableSize, d.MaxVariableSize)
	pick(&l.MaxBody, d.MaxBody)
	pick(&l.MaxHeader, d.MaxHeader)
	if l.MaxSteps <= 0 {
		l.MaxSteps = d.MaxSteps
	}
	if l.MaxVacationDays == 0 {
		l.MaxVacationDays = d.MaxVacationDays
	}
	return l
}

// ArgKind says what an Arg holds.
type ArgKind uint8

const (
	ArgTag ArgKind = iota + 1
	ArgNumber
	ArgStrings // a single string or a string list
)

// Arg is one positional or tagged argument.
type Arg struct {
	Pos  Pos
	Kind ArgKind
	Tag  string   // ArgTag: name without the colon, lower case
	Num  uint64   // ArgNumber
	Strs []string // ArgStrings
	List bool     // ArgStrings: written as [ ... ] rather than a single string
}

// Test is a test with its arguments and, for allof/anyof/not, sub-tests.
type Test struct {
	Pos   Pos
	Name  string
	Args  []Arg
	Tests []*Test
}

// Command is a command with arguments, tests and an optional block.
type Command struct {
	Pos      Pos
	Name     string
	Args     []Arg
	Tests    []*Test
	Block    []*Command
	HasBlock bool
}

// Parse reads a script into its AST (RFC 5228 section 8.2). It checks only
// the grammar and the limits; Compile checks meaning.
func Parse(src string, lim Limits) ([]*Command, error) {
	lim = lim.orDefault()
	if len(src) > lim.MaxScriptSize {
		return nil, errAt(Pos{1, 1}, "script longer than %d bytes", lim.MaxScriptSize)
	}
	p := &parser{lx: newLexer(src, lim.MaxString), lim: lim}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.commands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, errAt(p.tok.pos, "unexpected %s", p.tok.kind)
	}
	return cmds, nil
}

type parser struct {
	lx    *lexer
	tok   token
	lim   Limits
	count int
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) expect(k tokKind) error {
	if p.tok.kind != k {
		return errAt(p.tok.pos, "expected %s, found %s", k, p.tok.kind)
	}
	return p.advance()
}

func (p *parser) counted(pos Pos, depth int) error {
	p.count++
	if p.count > p.lim.MaxCommands {
		return errAt(pos, "more than %d commands and tests", p.lim.MaxCommands)
	}
	if depth > p.lim.MaxDepth {
		return errAt(pos, "nested deeper than %d", p.lim.MaxDepth)
	}
	return nil
}

func (p *parser) commands(depth int) ([]*Command, error) {
	var cmds []*Command
	for p.tok.kind == tIdent {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func (p *parser) command(depth int) (*Command, error) {
	c := &Command{Pos: p.tok.pos, Name: p.tok.text}
	if err := p.counted(c.Pos, depth); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var err error
	if c.Args, c.Tests, err = p.arguments(depth); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tSemicolon:
		return c, p.advance()
	case tLBrace:
		c.HasBlock = true
		if err := p.advance(); err != nil {
			return nil, err
		}
		if c.Block, err = p.commands(depth + 1); err != nil {
			return nil, err
		}
		return c, p.expect(tRBrace)
	}
	return nil, errAt(p.tok.pos, "expected \";\" or \"{\" after %s arguments, found %s", c.Name, p.tok.kind)
}

// arguments reads *argument [test / test-list].
func (p *parser) arguments(depth int) ([]Arg, []*Test, error) {
	var args []Arg
	for {
		a := Arg{Pos: p.tok.pos}
		switch p.tok.kind {
		case tTag:
			a.Kind, a.Tag = ArgTag, p.tok.text
		case tNumber:
			a.Kind, a.Num = ArgNumber, p.tok.num
		case tString:
			a.Kind, a.Strs = ArgStrings, []string{p.tok.text}
		case tLBracket:
			a.Kind, a.List = ArgStrings, true
			var err error
			if a.Strs, err = p.stringList(); err != nil {
				return nil, nil, err
			}
			args = append(args, a)
			continue
		default:
			goto tests
		}
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		args = append(args, a)
	}
tests:
	switch p.tok.kind {
	case tIdent:
		t, err := p.test(depth + 1)
		if err != nil {
			return nil, nil, err
		}
		return args, []*Test{t}, nil
	case tLParen:
		if err := p.advance(); err != nil {
			return nil, nil, err
		}
		var tests []*Test
		for {
			t, err := p.test(depth + 1)
			if err != nil {
				return nil, nil, err
			}
			tests = append(tests, t)
			if p.tok.kind != tComma {
				break
			}
			if err := p.advance(); err != nil {
				return nil, nil, err
			}
		}
		return args, tests, p.expect(tRParen)
	}
	return args, nil, nil
}

func (p *parser) stringList() ([]string, error) {
	start := p.tok.pos
	if err := p.advance(); err != nil {
		return nil, err
	}
	var strs []string
	for {
		if p.tok.kind != tString {
			return nil, errAt(p.tok.pos, "expected string in list, found %s", p.tok.kind)
		}
		strs = append(strs, p.tok.text)
		if len(strs) > p.lim.MaxListLen {
			return nil, errAt(start, "string list longer than %d", p.lim.MaxListLen)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRBracket {
			return strs, p.advance()
		}
		if err := p.expect(tComma); err != nil {
			return nil, err
		}
	}
}

func (p *parser) test(depth int) (*Test, error) {
	if p.tok.kind != tIdent {
		return nil, errAt(p.tok.pos, "expected a test, found %s", p.tok.kind)
	}
	t := &Test{Pos: p.tok.pos, Name: p.tok.text}
	if err := p.counted(t.Pos, depth); err != nil {
		return nil, err
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var err error
	t.Args, t.Tests, err = p.arguments(depth)
	return t, err
}
