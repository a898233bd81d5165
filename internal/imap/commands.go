package imap

import "strings"

// state is the RFC 9051 §3 connection state.
type state uint8

const (
	stateNotAuthenticated state = iota
	stateAuthenticated
	stateSelected
	stateLogout
)

func (st state) String() string {
	switch st {
	case stateNotAuthenticated:
		return "not authenticated"
	case stateAuthenticated:
		return "authenticated"
	case stateSelected:
		return "selected"
	}
	return "logout"
}

// stateSet is a set of states, one bit per state.
type stateSet uint8

func (ss stateSet) has(st state) bool { return ss&(1<<st) != 0 }

const (
	inNotAuth  = stateSet(1 << stateNotAuthenticated)
	inAuth     = stateSet(1 << stateAuthenticated)
	inSelected = stateSet(1 << stateSelected)
	inLoggedIn = inAuth | inSelected
	inAny      = inNotAuth | inLoggedIn
)

// handler runs one command. The parser stands right after the command
// name; the handler parses its arguments (each starting with SP), calls
// s.p.End() before doing anything, writes untagged responses with s.w and
// returns nil (the dispatcher sends the tagged OK, see session.ok) or an
// error (see errors.go).
type handler func(s *session, tag string, uid bool) error

// command is one row of the command table.
type command struct {
	name   string
	states stateSet // where the command is legal, checked once in dispatch
	// uid: the command also exists as "UID name" (RFC 9051 §6.4.9).
	uid bool
	// seqSensitive: while responding to the non-UID form, no EXPUNGE may
	// be sent (RFC 9051 §7.5.1: FETCH, STORE, SEARCH).
	seqSensitive bool
	// secret arguments (passwords, SASL data) never reach the wire trace.
	secret bool
	run    handler
}

// commands is the command table: every command the server knows and the
// states it is legal in. Adding a command means adding a row here and a
// handler in the file of its group.
var commands = [...]command{
	// Any state (RFC 9051 §6.1, RFC 2971).
	{name: "CAPABILITY", states: inAny, run: (*session).cmdCapability},
	{name: "NOOP", states: inAny, run: (*session).cmdNoop},
	{name: "LOGOUT", states: inAny, run: (*session).cmdLogout},
	{name: "ID", states: inAny, run: (*session).cmdID},
	// Not authenticated (§6.2).
	{name: "STARTTLS", states: inNotAuth, run: (*session).cmdStartTLS},
	{name: "AUTHENTICATE", states: inNotAuth, secret: true, run: (*session).cmdAuthenticate},
	{name: "LOGIN", states: inNotAuth, secret: true, run: (*session).cmdLogin},
	// Authenticated (§6.3) and, as always, selected.
	{name: "ENABLE", states: inAuth, run: (*session).cmdEnable}, // RFC 5161 §3.1
	{name: "SELECT", states: inLoggedIn, run: (*session).cmdSelect},
	{name: "EXAMINE", states: inLoggedIn, run: (*session).cmdExamine},
	{name: "CREATE", states: inLoggedIn, run: (*session).cmdCreate},
	{name: "DELETE", states: inLoggedIn, run: (*session).cmdDelete},
	{name: "RENAME", states: inLoggedIn, run: (*session).cmdRename},
	{name: "SUBSCRIBE", states: inLoggedIn, run: (*session).cmdSubscribe},
	{name: "UNSUBSCRIBE", states: inLoggedIn, run: (*session).cmdUnsubscribe},
	{name: "LIST", states: inLoggedIn, run: (*session).cmdList},
	{name: "LSUB", states: inLoggedIn, run: (*session).cmdLsub},
	{name: "NAMESPACE", states: inLoggedIn, run: (*session).cmdNamespace},
	{name: "STATUS", states: inLoggedIn, run: (*session).cmdStatus},
	{name: "APPEND", states: inLoggedIn, run: (*session).cmdAppend},
	{name: "IDLE", states: inLoggedIn, run: (*session).cmdIdle},
	{name: "COMPRESS", states: inAny, run: (*session).cmdCompress}, // RFC 4978 §3: its example compresses before LOGIN
	{name: "GETQUOTA", states: inLoggedIn, run: (*session).cmdGetQuota},
	{name: "GETQUOTAROOT", states: inLoggedIn, run: (*session).cmdGetQuotaRoot},
	{name: "SETQUOTA", states: inLoggedIn, run: (*session).cmdSetQuota},
	// Selected (§6.4).
	{name: "CHECK", states: inSelected, run: (*session).cmdCheck},
	{name: "CLOSE", states: inSelected, run: (*session).cmdClose},
	{name: "UNSELECT", states: inSelected, run: (*session).cmdUnselect},
	{name: "EXPUNGE", states: inSelected, uid: true, run: (*session).cmdExpunge},
	{name: "SEARCH", states: inSelected, uid: true, seqSensitive: true, run: (*session).cmdSearch},
	{name: "SORT", states: inSelected, uid: true, seqSensitive: true, run: (*session).cmdSort},
	{name: "THREAD", states: inSelected, uid: true, seqSensitive: true, run: (*session).cmdThread},
	{name: "FETCH", states: inSelected, uid: true, seqSensitive: true, run: (*session).cmdFetch},
	{name: "STORE", states: inSelected, uid: true, seqSensitive: true, run: (*session).cmdStore},
	{name: "COPY", states: inSelected, uid: true, run: (*session).cmdCopy},
	{name: "MOVE", states: inSelected, uid: true, run: (*session).cmdMove},
	{name: "CANCELUPDATE", states: inSelected, run: (*session).cmdCancelUpdate}, // RFC 5267 §4.3.5
}

// lookupCommand finds the row for a command name (any case), or nil.
func lookupCommand(name string) *command {
	for i := range commands {
		if strings.EqualFold(commands[i].name, name) {
			return &commands[i]
		}
	}
	return nil
}
