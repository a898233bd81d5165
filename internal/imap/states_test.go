package imap

import (
	"strings"
	"testing"
)

// sampleArgs gives each command plausible arguments, so the wrong-state
// matrix tests the state check and not the argument check.
var sampleArgs = map[string]string{
	"ID":           " NIL",
	"AUTHENTICATE": " PLAIN",
	"LOGIN":        ` alice@example.com "correct horse"`,
	"ENABLE":       " IMAP4rev2",
	"SELECT":       " INBOX",
	"EXAMINE":      " INBOX",
	"CREATE":       " NewBox",
	"DELETE":       " NewBox",
	"RENAME":       " NewBox Other",
	"SUBSCRIBE":    " INBOX",
	"UNSUBSCRIBE":  " INBOX",
	"LIST":         ` "" *`,
	"LSUB":         ` "" *`,
	"STATUS":       " INBOX (MESSAGES)",
	"APPEND":       " INBOX {1+}\r\nx",
	"GETQUOTA":     ` ""`,
	"GETQUOTAROOT": " INBOX",
	"SETQUOTA":     ` "" (STORAGE 1)`,
	"SEARCH":       " ALL",
	"FETCH":        " 1 FLAGS",
	"STORE":        ` 1 +FLAGS (\Seen)`,
	"COPY":         " 1 Trash",
	"MOVE":         " 1 Trash",
	"SORT":         " (DATE) UTF-8 ALL",
	"THREAD":       " REFERENCES UTF-8 ALL",
	"COMPRESS":     " DEFLATE",
	"CANCELUPDATE": ` "x"`, // NO [NONEXISTENT] without such a context, but not BAD
}

// uidSampleArgs are the arguments of the UID forms.
var uidSampleArgs = map[string]string{"EXPUNGE": " 1"}

var testStates = []state{stateNotAuthenticated, stateAuthenticated, stateSelected}

// dialIn returns a raw client in the given state.
func (e *env) dialIn(st state) *raw {
	e.t.Helper()
	r, _ := e.raw(e.addr)
	if st >= stateAuthenticated {
		if _, status := r.cmd(`LOGIN alice@example.com "correct horse"`); !strings.HasPrefix(status, "OK") {
			e.t.Fatalf("LOGIN: %q", status)
		}
	}
	if st == stateSelected {
		if _, status := r.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
			e.t.Fatalf("SELECT: %q", status)
		}
	}
	return r
}

// TestWrongStateMatrix sends every command of the table (and its UID form)
// in every state where the table says it is illegal: each gets BAD, changes
// nothing and the session goes on.
func TestWrongStateMatrix(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.MaxBadCommands = 1000 }})
	e.deliver(testUser, testMessage(1))
	for _, st := range testStates {
		t.Run(st.String(), func(t *testing.T) {
			r := e.dialIn(st)
			r.t = t
			tested := 0
			for _, cmd := range commands {
				if cmd.states.has(st) {
					continue
				}
				tested++
				for _, name := range []string{cmd.name, strings.ToLower(cmd.name)} {
					_, status := r.cmd(name + sampleArgs[cmd.name])
					if want := "BAD " + cmd.name + " not valid in " + st.String() + " state"; status != want {
						t.Errorf("%s: %q, want %q", name, status, want)
					}
				}
				if cmd.uid {
					_, status := r.cmd("UID " + cmd.name + uidArgs(cmd.name))
					if want := "BAD UID " + cmd.name + " not valid in " + st.String() + " state"; status != want {
						t.Errorf("UID %s: %q, want %q", cmd.name, status, want)
					}
				}
			}
			if tested == 0 {
				t.Fatal("no command is illegal in this state?")
			}
			// Still in the same state, nothing changed.
			_, status := r.cmd("NOOP")
			if status != "OK NOOP completed" {
				t.Errorf("NOOP after the matrix: %q", status)
			}
			if st == stateSelected {
				if lines, _ := r.cmd("STATUS INBOX (MESSAGES)"); len(lines) != 1 || !strings.Contains(lines[0], "MESSAGES 1") {
					t.Errorf("INBOX changed: %q", lines)
				}
			}
		})
	}
}

func uidArgs(name string) string {
	if a, ok := uidSampleArgs[name]; ok {
		return a
	}
	return sampleArgs[name]
}

// TestEveryCommandInItsStates checks that every row of the table is
// reachable in each state where it is legal and takes its sample
// arguments there: no BAD at all (a wrong state, an unknown command or a
// syntax error would each be one).
func TestEveryCommandInItsStates(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	for _, cmd := range commands {
		for _, st := range testStates {
			if !cmd.states.has(st) {
				continue
			}
			forms := []string{cmd.name + sampleArgs[cmd.name]}
			if cmd.uid {
				forms = append(forms, "UID "+cmd.name+uidArgs(cmd.name))
			}
			for _, form := range forms {
				r := e.dialIn(st)
				r.send("x " + form)
				got := r.line()
				// With its sample arguments each command is accepted:
				// no BAD, whether for its state or its syntax.
				if strings.HasPrefix(got, "x BAD") || strings.HasPrefix(got, "* BAD") {
					t.Errorf("%s in %s: %q", form, st, got)
				}
				r.conn.Close()
			}
		}
	}
}

func TestUnknownCommands(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.dialIn(stateSelected)
	for _, c := range []string{"HELO", "XYZZY", "UID NOOP", "UID", "UID XYZZY", "LOGIN2", "FETCH1 1 FLAGS"} {
		if _, status := r.cmd(c); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%s: %q", c, status)
		}
	}
	// A missing or invalid tag.
	r.send("")
	if l := r.line(); !strings.HasPrefix(l, "* BAD") {
		t.Errorf("empty line: %q", l)
	}
	r.send("+ NOOP")
	if l := r.line(); !strings.HasPrefix(l, "* BAD") {
		t.Errorf("tag +: %q", l)
	}
	if _, status := r.cmd("NOOP"); status != "OK NOOP completed" {
		t.Errorf("NOOP: %q", status)
	}
}
