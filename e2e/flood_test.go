package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// idleCeiling is the most `pochta serve` may grow (resident memory) to
// hold idleConns idle connections: about 26 KiB each (measured: 13). See
// docs/RELIABILITY.md.
const (
	idleConns   = 10_000
	idleCeiling = 256 << 20
)

// TestIdleFlood opens 10,000 connections (POP3, IMAP and SMTP, a third
// each) that only read their greeting, checks the server's resident
// memory stays under the ceiling, and that connection 10,001 is refused
// with a reason, not ignored.
func TestIdleFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < idleConns+1000 {
		t.Skipf("needs %d file descriptors, the limit is %d", idleConns+1000, lim.Cur)
	}
	in := newInstance(t, "flood.test")
	in.serve([]string{"pop3", "imap", "smtp"}, "limits.max_connections="+strconv.Itoa(idleConns),
		"limits.max_connections_per_ip=0", "smtp.auth_checks=false")
	pid := in.cmd.Process.Pid
	before := rss(t, pid)
	conns := make([]net.Conn, 0, idleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	names := []string{"pop3", "imap", "smtp"}
	start := time.Now()
	buf := make([]byte, 512)
	for i := range idleConns {
		c, err := net.DialTimeout("tcp", in.addrs[names[i%3]], 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := c.Read(buf); err != nil || n == 0 {
			t.Fatalf("connection %d (%s): no greeting: %v", i, names[i%3], err)
		}
	}
	after := rss(t, pid)
	t.Logf("%d idle connections opened in %v: serve RSS %d MiB -> %d MiB (%d KiB per connection)",
		idleConns, time.Since(start).Round(time.Millisecond), before>>20, after>>20, (after-before)/idleConns>>10)
	if after-before > idleCeiling {
		t.Errorf("serve grew by %d MiB for %d idle connections, ceiling %d MiB", (after-before)>>20, idleConns, idleCeiling>>20)
	}
	// One more, on each protocol: refused with a reason.
	for name, want := range map[string]string{"pop3": "-ERR [SYS/TEMP]", "imap": "* BYE [UNAVAILABLE]", "smtp": "421 4.7.0"} {
		c, err := net.DialTimeout("tcp", in.addrs[name], 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, want) {
			t.Errorf("%s over the limit: got %q, want %q", name, line, want)
		}
	}
}

// rss is a process's resident memory in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestSlowDrip: clients that send one byte every 200 ms, on SMTP before
// and inside DATA and on POP3, are closed within limits.line_timeout
// (here 2s) plus a margin, though each byte comes well within the idle
// timeouts. Nothing dripped is stored. (limits.max_session is at least 10
// minutes in a config: the unit tests of internal/smtp and internal/pop3
// check it.)
func TestSlowDrip(t *testing.T) {
	in := newInstance(t, "drip.test")
	in.addUser("u@drip.test", "drip pass")
	in.serve([]string{"pop3", "smtp"}, "limits.line_timeout=2s", "smtp.auth_checks=false")
	type tc struct {
		name, listener, prefix, drip, want string
	}
	for _, c := range []tc{
		{"SMTP command", "smtp", "", "EHLO a.slow.client.that.never.ends.its.line", "421 4.4.2"},
		{"SMTP DATA", "smtp", "EHLO x\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<u@drip.test>\r\nDATA\r\n", "Subject: drip\r\n\r\nline\r\n", "421 4.4.2"},
		{"POP3 command", "pop3", "", "USER u@drip.test", "-ERR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", in.addrs[c.listener])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.Write([]byte(c.prefix))
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					case <-time.After(200 * time.Millisecond):
					}
					if _, err := conn.Write([]byte{c.drip[i%len(c.drip)]}); err != nil {
						return
					}
				}
			}()
			start := time.Now()
			conn.SetReadDeadline(start.Add(30 * time.Second))
			all, _ := io.ReadAll(conn) // a reset after the last reply is fine
			el := time.Since(start)
			lines := strings.Split(strings.TrimSpace(string(all)), "\r\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, c.want) {
				t.Errorf("last reply %q, want %q", last, c.want)
			}
			if el > 10*time.Second {
				t.Errorf("closed after %v, want about 2s", el)
			}
			t.Logf("closed after %v", el.Round(time.Millisecond))
		})
	}
	p, err := dialPOP3(in.addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := p.login("u@drip.test", "drip pass"); err != nil {
		t.Fatal(err)
	}
	if n, err := p.stat(); err != nil || n != 0 {
		t.Errorf("dripped messages stored: %d (%v)", n, err)
	}
}
