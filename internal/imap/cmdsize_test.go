package imap

import (
	"io"
	"strings"
	"testing"
)

// One command holds at most MaxCommand octets in memory, however it is
// split: before, each literal and each line segment was bounded (64 KiB)
// but not their number (up to 100,000 arguments), so one SEARCH could
// make the server hold gigabytes of search strings.
func TestCommandSizeBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	chunk := strings.Repeat("x", 60000)
	const most = 40 // 2.4 MB, over the 1 MiB bound

	// Synchronising literals: the one that would go over is refused
	// before its data is asked for, and the session goes on.
	r := e.login(false, true)
	r.send("a1 SEARCH TEXT {60000}")
	refused := false
	for i := 0; i < most; i++ {
		l := r.line()
		if strings.HasPrefix(l, "a1 ") {
			if !strings.HasPrefix(l, "a1 NO [TOOBIG]") {
				t.Fatalf("after %d literals: %q", i, l)
			}
			refused = true
			break
		}
		if !strings.HasPrefix(l, "+") {
			t.Fatalf("literal %d: %q", i, l)
		}
		r.send(chunk + " TEXT {60000}")
	}
	if !refused {
		t.Fatalf("%d literals of %d octets in one command were all taken", most, len(chunk))
	}
	mustOK(t, r, "NOOP")

	// Non-synchronising literals cannot be refused: the session ends.
	r = e.login(false, true)
	var b strings.Builder
	b.WriteString("a2 SEARCH")
	for range most {
		b.WriteString(" TEXT {60000+}\r\n" + chunk)
	}
	b.WriteString("\r\n")
	go io.WriteString(r.conn, b.String()) // the server stops reading
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("non-synchronising literals over the bound: %q", l)
	}
	expectClosed(t, r)

	// Quoted strings in segments joined by empty literals.
	r = e.login(false, true)
	b.Reset()
	b.WriteString("a3 SEARCH")
	for range most {
		b.WriteString(` TEXT "` + chunk + `" TEXT {0+}` + "\r\n")
	}
	b.WriteString(" ALL\r\n")
	go io.WriteString(r.conn, b.String())
	if l := r.line(); !strings.HasPrefix(l, "* BYE") {
		t.Fatalf("segments over the bound: %q", l)
	}
	expectClosed(t, r)
}
