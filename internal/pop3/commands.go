package pop3

// stateSet is a set of states, one bit per state.
type stateSet uint8

func (ss stateSet) has(st state) bool { return ss&(1<<st) != 0 }

const (
	inAuthorization = stateSet(1 << stateAuthorization)
	inTransaction   = stateSet(1 << stateTransaction)
	inBoth          = inAuthorization | inTransaction
)

// command is one row of the command table.
type command struct {
	name   string
	states stateSet // where the command is legal, checked once in dispatch
	// minArgs and maxArgs bound the number of space-separated arguments.
	minArgs, maxArgs int
	// rawArg means the whole rest of the line is one argument: RFC 1939
	// §7 lets PASS passwords contain spaces.
	rawArg bool
	// secret arguments (passwords, digests, SASL data) never reach the
	// wire trace.
	secret bool
	// enabled, when set, hides the command unless the server turns it on.
	enabled func(*Server) bool
	run     func(s *session, args []string) error
}

// commands is the command table: every command the server knows and the
// states it is legal in. Adding a command means adding a row here and a
// handler in the file of its group.
var commands = [...]command{
	// AUTHORIZATION (RFC 1939 §4, RFC 2595, RFC 5034, RFC 6856).
	{name: "USER", states: inAuthorization, minArgs: 1, maxArgs: 1, run: (*session).cmdUser},
	{name: "PASS", states: inAuthorization, minArgs: 1, maxArgs: 1, rawArg: true, secret: true, run: (*session).cmdPass},
	{name: "APOP", states: inAuthorization, minArgs: 2, maxArgs: 2, secret: true, run: (*session).cmdAPOP},
	{name: "AUTH", states: inAuthorization, minArgs: 0, maxArgs: 2, secret: true, run: (*session).cmdAuth},
	{name: "STLS", states: inAuthorization, run: (*session).cmdSTLS},
	{name: "UTF8", states: inAuthorization, run: (*session).cmdUTF8},
	// Both states.
	{name: "CAPA", states: inBoth, run: (*session).cmdCapa},
	{name: "LANG", states: inBoth, maxArgs: 1, run: (*session).cmdLang},
	{name: "QUIT", states: inBoth, run: (*session).cmdQuit},
	{name: "HELP", states: inBoth}, // non-standard, not in CAPA; run is set in help.go
	// TRANSACTION (RFC 1939 §5).
	{name: "STAT", states: inTransaction, run: (*session).cmdStat},
	{name: "LIST", states: inTransaction, maxArgs: 1, run: (*session).cmdList},
	{name: "RETR", states: inTransaction, minArgs: 1, maxArgs: 1, run: (*session).cmdRetr},
	{name: "DELE", states: inTransaction, minArgs: 1, maxArgs: 1, run: (*session).cmdDele},
	{name: "NOOP", states: inTransaction, run: (*session).cmdNoop},
	{name: "RSET", states: inTransaction, run: (*session).cmdRset},
	{name: "TOP", states: inTransaction, minArgs: 2, maxArgs: 2, run: (*session).cmdTop},
	{name: "UIDL", states: inTransaction, maxArgs: 1, run: (*session).cmdUidl},
	{name: "LAST", states: inTransaction, enabled: func(s *Server) bool { return s.EnableLAST }, run: (*session).cmdLast},
}

// lookupCommand finds the row for an upper-case keyword, or nil.
func lookupCommand(name [4]byte, srv *Server) *command {
	n := 4
	if name[3] == 0 {
		n = 3
	}
	for i := range commands {
		c := &commands[i]
		if c.name == string(name[:n]) {
			if c.enabled != nil && !c.enabled(srv) {
				return nil
			}
			return c
		}
	}
	return nil
}

// parseArgs checks the argument count against the table.
func (c *command) parseArgs(rest []byte) ([]string, error) {
	var args []string
	if c.rawArg {
		if len(rest) > 0 {
			args = []string{string(rest)}
		}
	} else if len(rest) > 0 {
		args = splitArgs(rest, make([]string, 0, c.maxArgs))
	}
	switch {
	case len(args) < c.minArgs:
		return nil, badCommand("%s: missing argument", c.name)
	case len(args) > c.maxArgs:
		return nil, badCommand("%s: too many arguments", c.name)
	}
	return args, nil
}
