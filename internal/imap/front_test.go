package imap

import (
	"bytes"
	"net"
	"testing"
)

// captureConn records what the front writes.
type captureConn struct {
	net.Conn
	buf bytes.Buffer
}

func (c *captureConn) Write(p []byte) (int, error) { return c.buf.Write(p) }

// The output filter must pass every byte through, literals untouched
// (even when they look like capability lines), and extend capability
// lines, however the library's writes split the stream.
func TestOutFilterSplits(t *testing.T) {
	in := "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n" +
		"* 1 FETCH (UID 1 BODY[] {30}\r\n* CAPABILITY in a literal\r\n\r\n UID 1)\r\n" +
		"* CAPABILITY IMAP4rev1 IDLE\r\n" +
		"* 2 FETCH (BINARY[1] ~{4}\r\nab\r\n)\r\n" +
		"a1 OK [CAPABILITY IMAP4rev2] Logged in\r\n" +
		"a2 OK [READ-WRITE] SELECT completed\r\n" +
		"*\r\n"
	want := "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ID] ready\r\n" +
		"* 1 FETCH (UID 1 BODY[] {30}\r\n* CAPABILITY in a literal\r\n\r\n UID 1)\r\n" +
		"* CAPABILITY IMAP4rev1 IDLE ID\r\n" +
		"* 2 FETCH (BINARY[1] ~{4}\r\nab\r\n)\r\n" +
		"a1 OK [CAPABILITY IMAP4rev2 ID] Logged in\r\n" +
		"a2 OK [READ-WRITE] SELECT completed\r\n" +
		"*\r\n"
	for chunk := 1; chunk <= len(in); chunk++ {
		cc := &captureConn{}
		f := &front{srv: &Server{}, conn: cc, loopback: true}
		f.out.f = f
		for i := 0; i < len(in); i += chunk {
			if _, err := f.Write([]byte(in[i:min(len(in), i+chunk)])); err != nil {
				t.Fatal(err)
			}
		}
		if got := cc.buf.String(); got != want {
			t.Fatalf("chunks of %d:\n got %q\nwant %q", chunk, got, want)
		}
		if !f.out.atBoundary() {
			t.Fatalf("chunks of %d: not at a line boundary at the end", chunk)
		}
	}
}

func TestLiteralSizeAndCommandName(t *testing.T) {
	for line, want := range map[string]int64{
		"a APPEND INBOX {12}\r\n": 12, "a APPEND INBOX {12+}\r\n": 12, "~{7}\r\n": 7,
		"a LOGIN x y\r\n": 0, "{}\r\n": 0, "a SEARCH TEXT {x}\r\n": 0, `a LOGIN "{5}"` + "\r\n": 0,
	} {
		if got := literalSize([]byte(line)); got != want {
			t.Errorf("literalSize(%q) = %d, want %d", line, got, want)
		}
	}
	for line, want := range map[string][2]string{
		"a1 id NIL\r\n":     {"a1", "ID"},
		"x STARTTLS\r\n":    {"x", "STARTTLS"},
		"DONE\r\n":          {"", ""},
		"dGVzdA==\r\n":      {"", ""},
		"t getquotaroot x ": {"t", "GETQUOTAROOT"},
	} {
		tag, name := commandName([]byte(line))
		if tag != want[0] || name != want[1] {
			t.Errorf("commandName(%q) = %q %q, want %q", line, tag, name, want)
		}
	}
}
