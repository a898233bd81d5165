package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGreetingAndCapability(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t, remote)
	got := c.expect("CAPABILITY", "OK")
	for _, want := range []string{`"IMPLEMENTATION" "Pochta"`, `"SIEVE" "comparator-i;ascii-casemap`, " fileinto ", `"STARTTLS"`, `"VERSION" "1.0"`, `"SASL" "`} {
		if !strings.Contains(got, want) {
			t.Errorf("capabilities lack %s:\n%s", want, got)
		}
	}
	// No PLAIN in the clear from a remote address (RFC 5804 2.1).
	if strings.Contains(got, "PLAIN") {
		t.Errorf("PLAIN offered without TLS to a remote client:\n%s", got)
	}
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("alice@example.org", "secret")+`"`, `NO (ENCRYPT-NEEDED) "Use STARTTLS first"`)
	c.expect("LOGOUT", `OK "Logout complete"`)
}

func TestStartTLSThenAuthenticate(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t, remote)
	c.expect("STARTTLS", `OK "Begin TLS negotiation now"`)
	tc := tls.Client(c.conn, e.clientTLS)
	c.conn, c.r = tc, bufio.NewReader(tc)
	caps := c.response() // the capabilities again, over TLS (RFC 5804 2.2)
	if !strings.Contains(caps, "PLAIN") || strings.Contains(caps, `"STARTTLS"`) {
		t.Errorf("capabilities after STARTTLS:\n%s", caps)
	}
	c.expect("STARTTLS", `NO "TLS is not available"`)
	c.expect(`AUTHENTICATE "PLAIN" "`+plain("alice@example.org", "secret")+`"`, `OK "Logged in"`)
}

func TestSASLExchange(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t, loopback)
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	line, err := c.r.ReadString('\n')
	if err != nil || line != "\"\"\r\n" {
		t.Fatalf("challenge %q, %v", line, err)
	}
	c.expect(`"`+plain("alice@example.org", "wrong")+`"`, `NO "Authentication failed"`)
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	c.r.ReadString('\n')
	c.expect(`"*"`, `NO "Authentication aborted"`)
	// A literal response works too.
	c.send("AUTHENTICATE \"PLAIN\"\r\n")
	c.r.ReadString('\n')
	resp := plain("alice@example.org", "secret")
	c.expect(fmt.Sprintf("{%d+}\r\n%s", len(resp), resp), `OK "Logged in"`)
	if got := c.expect("CAPABILITY", "OK"); !strings.Contains(got, `"OWNER" "alice@example.org"`) || strings.Contains(got, "SASL") {
		t.Errorf("capabilities after login:\n%s", got)
	}
}

func TestScriptCommands(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	script := "require \"fileinto\";\r\nif header :contains \"subject\" \"go\" {\r\n  fileinto \"Go\";\r\n}\r\n"
	put := func(name, src, want string) {
		t.Helper()
		c.expect(fmt.Sprintf("PUTSCRIPT %q {%d+}\r\n%s", name, len(src), src), want)
	}
	put("filters", script, "OK")
	c.expect(`CHECKSCRIPT "keep;"`, "OK")
	got := c.expect(`CHECKSCRIPT "fileinto \"x\";"`, "")
	if !strings.HasPrefix(got, `NO "`) || !strings.Contains(got, "line 1, column 1") {
		t.Errorf("CHECKSCRIPT of a script missing its require: %q, want NO with line:column", got)
	}
	put("broken", "if true {", "")
	c.expect("LISTSCRIPTS", "\"filters\"\nOK")
	c.expect(`SETACTIVE "filters"`, "OK")
	c.expect(`SETACTIVE "nope"`, `NO (NONEXISTENT) "There is no script named \"nope\""`)
	put("vacation", "keep;", "OK")
	c.expect("LISTSCRIPTS", "\"filters\" ACTIVE\n\"vacation\"\nOK")
	c.expect(`GETSCRIPT "filters"`, fmt.Sprintf("{%d}%s\n\nOK", len(script), script))
	c.expect(`DELETESCRIPT "filters"`, `NO (ACTIVE) "Script \"filters\" is active: activate another one (or none) first"`)
	c.expect(`RENAMESCRIPT "vacation" "filters"`, `NO (ALREADYEXISTS) "A script named \"filters\" exists already"`)
	c.expect(`RENAMESCRIPT "filters" "main"`, "OK")
	c.expect(`SETACTIVE ""`, "OK")
	c.expect(`DELETESCRIPT "main"`, "OK")
	c.expect(`DELETESCRIPT "main"`, `NO (NONEXISTENT) "There is no script named \"main\""`)
	c.expect("LISTSCRIPTS", "\"vacation\"\nOK")
	c.expect("NOOP \"t1\"", `OK (TAG "t1") "Done"`)

	// Limits: size and count (MaxScriptSize 4096, MaxScripts 3).
	c.expect(`HAVESPACE "x" 100`, "OK")
	c.expect(`HAVESPACE "x" 5000`, `NO (QUOTA/MAXSIZE) "Script of 5000 octets is over the limit of 4096"`)
	big := "# " + strings.Repeat("x", 5000) + "\r\nkeep;\r\n"
	put("big", big, `NO (QUOTA/MAXSIZE) "Script over the limit of 4096 octets"`)
	put("two", "keep;", "OK")
	put("three", "keep;", "OK")
	c.expect(`HAVESPACE "four" 10`, `NO (QUOTA/MAXSCRIPTS) "No more than 3 scripts"`)
	c.expect(`HAVESPACE "three" 10`, "OK") // replacing takes no slot
	put("four", "keep;", `NO (QUOTA/MAXSCRIPTS) "No more than 3 scripts"`)
	c.expect("CAPABILITY", "OK") // the session survived the refused literal
	scripts, _ := e.st.SieveScripts(context.Background(), e.acct.ID)
	if len(scripts) != 3 {
		t.Errorf("%d scripts stored, want 3", len(scripts))
	}
}

// TestWrongState: every command is refused in the state it is not legal
// in, generated from the command table.
func TestWrongState(t *testing.T) {
	e := newEnv(t)
	before := e.dial(t, loopback)
	after := e.login(t)
	for name, cmd := range commands {
		line := name
		for _, k := range cmd.args {
			if k == argNumber {
				line += " 1"
			} else {
				line += ` "x"`
			}
		}
		if cmd.states&stateNonAuth == 0 {
			before.expect(line, `NO "Authenticate first"`)
		}
		if cmd.states&stateAuth == 0 {
			after.expect(line, `NO "Already authenticated"`)
		}
	}
}

func TestMalformed(t *testing.T) {
	e := newEnv(t)
	c := e.login(t)
	for _, tt := range []struct{ in, want string }{
		{"FROB", `NO "Unknown command"`},
		{`GETSCRIPT`, `NO "Wrong number of arguments"`},
		{`GETSCRIPT 12`, `NO "Wrong argument type"`},
		{`GETSCRIPT "unterminated`, `NO "Syntax error"`},
		{`GETSCRIPT "bad\escape"`, `NO "Syntax error"`},
		{`"quoted-command"`, `NO "Syntax error"`},
		{`HAVESPACE "x" 99999999999`, `NO "Syntax error"`},
		{"GETSCRIPT " + strings.Repeat("x", 9000), `NO "Syntax error"`},
	} {
		c.expect(tt.in, tt.want)
	}
	// Too many bad commands end the session.
	got := ""
	for range 3 {
		c.send("FROB\r\n")
		if got = c.response(); got != `NO "Unknown command"` {
			break
		}
	}
	if got != `BYE "Too many errors"` {
		t.Errorf("after 10 bad commands: %q", got)
	}
}

// TestMaxSession: limits.max_session ends a session that would otherwise
// wait an hour for its next command, with a BYE that says why.
func TestMaxSession(t *testing.T) {
	e := newEnv(t)
	e.srv.IdleTimeout = time.Hour
	e.srv.MaxSession = 300 * time.Millisecond
	c := e.login(t)
	// Nothing is sent: only the session's lifetime can end it in time.
	if got := c.response(); !strings.HasPrefix(got, "BYE") || !strings.Contains(got, "Session lasted too long") {
		t.Fatalf("after the session's lifetime: %q, want a BYE saying so", got)
	}
}
