package e2e_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestCrashDuringSMTP kills the real `pochta serve` with SIGKILL, again
// and again, while clients send mail over SMTP DATA and BDAT on the MX
// port and over submission, and checks after each restart:
//
//   - every message acknowledged with 250 is in the mailbox exactly once,
//     byte for byte as sent (after the trace fields);
//   - a message not acknowledged is there at most once, and whole (its
//     commit may have beaten the kill to the 250);
//   - nothing half-stored: no fragment, no duplicate;
//   - at the end, once every message is deleted, no body file is left in
//     messages/: serve's start removed what the kills orphaned.
func TestCrashDuringSMTP(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts pochta serve many times")
	}
	const iterations = 10
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	in := newInstance(t, "crash.test")
	in.addUser(smtpCrashRcpt, crashPassword)
	in.addUser(smtpCrashSender, crashPassword)
	c := &smtpCrash{t: t, sent: map[int]string{}, acked: map[int]bool{}}
	want := []string{"smtp", "submission", "pop3"}
	var orphans, orphanBytes int
	for it := range iterations {
		in.serve(want)
		if it > 0 {
			c.verify(in.addrs["pop3"])
			n, b := orphanLog(in.log.String())
			orphans, orphanBytes = orphans+n, orphanBytes+b
		}
		c.run(in.addrs, rng)
		in.kill9()
	}
	in.serve(want)
	c.verify(in.addrs["pop3"])
	n, b := orphanLog(in.log.String())
	orphans, orphanBytes = orphans+n, orphanBytes+b
	t.Logf("%d kills: %d messages attempted, %d acknowledged, %d stored without their 250; orphan body files removed at start: %d (%d bytes)",
		iterations, len(c.sent), len(c.acked), c.unacked, orphans, orphanBytes)

	// Delete everything: then no body file may remain.
	p, err := dialPOP3(in.addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.login(smtpCrashRcpt, crashPassword); err != nil {
		t.Fatal(err)
	}
	count, err := p.stat()
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= count; i++ {
		if _, err := p.cmd("DELE " + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.cmd("QUIT"); err != nil {
		t.Fatal(err)
	}
	p.close()
	files, _ := filepath.Glob(filepath.Join(in.dir, "messages", "*", "*"))
	if len(files) != 0 {
		t.Errorf("%d body files left after every message was deleted (orphans): %v", len(files), files)
	}
}

const (
	smtpCrashRcpt   = "inbox@crash.test"
	smtpCrashSender = "sender@crash.test"
)

var orphanRE = regexp.MustCompile(`msg="removed orphan message files".* count=(\d+) bytes=(\d+)`)

// orphanLog sums the orphan files serve reported removing.
func orphanLog(log string) (n, size int) {
	for _, m := range orphanRE.FindAllStringSubmatch(log, -1) {
		a, _ := strconv.Atoi(m[1])
		b, _ := strconv.Atoi(m[2])
		n, size = n+a, size+b
	}
	return n, size
}

type smtpCrash struct {
	t       *testing.T
	mu      sync.Mutex
	next    int
	sent    map[int]string // id -> message as sent (CRLF, unstuffed)
	acked   map[int]bool
	unacked int // stored though never acknowledged (counted at verify)
	seen    map[int]bool
}

// message builds message id: sizes cycle through inline and file bodies,
// some lines start with dots.
func (c *smtpCrash) message() (int, string) {
	c.mu.Lock()
	id := c.next
	c.next++
	c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nSubject: smtp crash %d\r\nMessage-ID: <crash.%d@crash.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nX-Crash-ID: %d\r\n\r\n",
		smtpCrashSender, smtpCrashRcpt, id, id, id)
	size := []int{300, 20 << 10, 150 << 10}[id%3]
	for i := 0; b.Len() < size; i++ {
		if i%7 == 0 {
			b.WriteString(".dot line\r\n")
		}
		fmt.Fprintf(&b, "line %d of message %d, some text to fill it up\r\n", i, id)
	}
	m := b.String()
	c.mu.Lock()
	c.sent[id] = m
	c.mu.Unlock()
	return id, m
}

// run starts clients in every mode and returns after a random time
// (the caller kills the server then): their sessions die with it.
func (c *smtpCrash) run(addrs map[string]string, rng *rand.Rand) {
	var wg sync.WaitGroup
	for _, mode := range []string{"data", "bdat", "submission", "data", "bdat", "submission"} {
		addr := addrs["smtp"]
		if mode == "submission" {
			addr = addrs["submission"]
		}
		wg.Go(func() { c.client(addr, mode) })
	}
	time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
	// The caller's kill9 ends the clients; wait for them afterwards.
	go wg.Wait()
}

type smtpClient struct {
	conn net.Conn
	r    *bufio.Reader
}

// reply reads one reply and returns its last line.
func (s *smtpClient) reply() (string, error) {
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimRight(l, "\r\n"), nil
		}
	}
}

func (s *smtpClient) cmd(line, want string) error {
	if _, err := s.conn.Write([]byte(line)); err != nil {
		return err
	}
	r, err := s.reply()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(r, want) {
		return fmt.Errorf("%q answered %q", strings.TrimSpace(line), r)
	}
	return nil
}

// client sends messages until the connection dies, recording the ones
// acknowledged.
func (c *smtpCrash) client(addr, mode string) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	s := &smtpClient{conn: conn, r: bufio.NewReader(conn)}
	if _, err := s.reply(); err != nil {
		return
	}
	if s.cmd("EHLO crash.client\r\n", "250") != nil {
		return
	}
	from := "someone@remote.test"
	if mode == "submission" {
		from = smtpCrashSender
		plain := base64.StdEncoding.EncodeToString([]byte("\x00" + smtpCrashSender + "\x00" + crashPassword))
		if err := s.cmd("AUTH PLAIN "+plain+"\r\n", "235"); err != nil {
			c.problem(err)
			return
		}
	}
	for {
		id, m := c.message()
		if s.cmd("MAIL FROM:<"+from+">\r\n", "250") != nil || s.cmd("RCPT TO:<"+smtpCrashRcpt+">\r\n", "250") != nil {
			return
		}
		var err error
		if mode == "bdat" {
			half := len(m) / 2
			if err = s.cmd(fmt.Sprintf("BDAT %d\r\n%s", half, m[:half]), "250"); err == nil {
				err = s.cmd(fmt.Sprintf("BDAT %d LAST\r\n%s", len(m)-half, m[half:]), "250")
			}
		} else if err = s.cmd("DATA\r\n", "354"); err == nil {
			err = s.cmd(dotStuff(m)+".\r\n", "250")
		}
		if err != nil {
			return // the kill, or a refusal: either way not acknowledged
		}
		c.mu.Lock()
		c.acked[id] = true
		c.mu.Unlock()
	}
}

func (c *smtpCrash) problem(err error) {
	if _, ok := err.(net.Error); !ok && !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		c.t.Errorf("client: %v", err)
	}
}

func dotStuff(m string) string {
	return strings.ReplaceAll(strings.TrimPrefix(m, "."), "\r\n.", "\r\n..")
}

// verify retrieves the whole mailbox over POP3 and checks it against what
// was sent and acknowledged.
func (c *smtpCrash) verify(addr string) {
	t := c.t
	t.Helper()
	p, err := dialPOP3(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := p.login(smtpCrashRcpt, crashPassword); err != nil {
		t.Fatal(err)
	}
	count, err := p.stat()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for n := 1; n <= count; n++ {
		m, err := p.retr(n)
		if err != nil {
			t.Fatal(err)
		}
		_, body := traceAndBody(t, m)
		_, rest, ok := strings.Cut(body, "\r\nX-Crash-ID: ")
		var id int
		if !ok {
			t.Fatalf("message %d has no X-Crash-ID: %q", n, trunc(body))
		}
		fmt.Sscanf(rest, "%d", &id)
		if seen[id] {
			t.Fatalf("message %d stored twice", id)
		}
		seen[id] = true
		c.mu.Lock()
		sent := c.sent[id]
		c.mu.Unlock()
		if body != sent {
			t.Fatalf("message %d stored as %d octets %q, sent %d octets", id, len(body), trunc(body), len(sent))
		}
	}
	p.cmd("QUIT")
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.acked {
		if !seen[id] {
			t.Fatalf("message %d was acknowledged with 250 but is not in the mailbox", id)
		}
	}
	c.unacked = 0
	for id := range seen {
		if !c.acked[id] {
			c.unacked++
		}
	}
}
