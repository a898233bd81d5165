package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/tlsutil"
)

// serving is a running `pochta serve`.
type serving struct {
	cmd   *exec.Cmd
	addrs map[string]string // listener name -> bound address
	mu    sync.Mutex
	log   bytes.Buffer
	done  chan struct{} // closed when stderr is drained
}

var listeningRE = regexp.MustCompile(`msg=listening name=(\S+) addr=(\S+)`)

// loopbackSMTP returns -o flags putting the SMTP listeners (which default
// to the production ports) on addr; "" disables them.
func loopbackSMTP(addr string) []string {
	return []string{"-o", "smtp.listen=" + addr, "-o", "submission.listen=" + addr, "-o", "submissions.listen=" + addr}
}

// loopbackWeb does the same for the HTTP listeners (http, https, metrics).
func loopbackWeb(addr string) []string {
	return []string{"-o", "http.listen=" + addr, "-o", "https.listen=" + addr, "-o", "metrics.listen=" + addr}
}

// serve starts pochta serve on loopback ephemeral ports and waits for the
// listeners the log announces. It is stopped with SIGKILL at cleanup if the
// test has not stopped it.
func serve(t *testing.T, dir string, overrides ...string) *serving {
	t.Helper()
	args := append([]string{"-d", dir, "serve", "-o", "pop3.listen=127.0.0.1:0", "-o", "pop3s.listen=127.0.0.1:0",
		"-o", "imap.listen=127.0.0.1:0", "-o", "imaps.listen=127.0.0.1:0", "-o", "managesieve.listen=127.0.0.1:0"}, loopbackSMTP("127.0.0.1:0")...)
	args = append(args, loopbackWeb("127.0.0.1:0")...)
	for _, o := range overrides {
		args = append(args, "-o", o)
	}
	s := &serving{cmd: exec.Command(bin, args...), addrs: map[string]string{}, done: make(chan struct{})}
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill(); s.cmd.Wait() })
	started := make(chan struct{})
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				s.addrs[m[1]] = m[2]
			}
			if strings.Contains(sc.Text(), `msg="pochta started"`) {
				close(started)
			}
			s.mu.Unlock()
		}
	}()
	select {
	case <-started:
	case <-s.done:
		s.cmd.Wait()
		t.Fatalf("pochta serve exited at start:\n%s", s.logText())
	}
	return s
}

func (s *serving) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

func (s *serving) addr(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addrs[name]
}

// stop sends SIGTERM and returns the exit code.
func (s *serving) stop(t *testing.T) int {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.done
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 1000 {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func greeting(t *testing.T, c net.Conn) string {
	t.Helper()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting: %v (got %q)", err, line)
	}
	return line
}

func TestServe(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	s := serve(t, dir, "log.level=debug", "limits.max_connections_per_ip=1", "shutdown.timeout=1h")

	c, err := net.Dial("tcp", s.addr("pop3"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if g := greeting(t, c); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3 greeting %q", g)
	}
	// One connection per IP: the next one is refused politely.
	c2, err := net.Dial("tcp", s.addr("pop3"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if g := greeting(t, c2); g != "-ERR [SYS/TEMP] Too many connections\r\n" {
		t.Fatalf("over the limit got %q", g)
	}
	c.Close()
	eventually(t, "first session ended", func() bool { return strings.Contains(s.logText(), "session end") })
	idle, err := net.Dial("tcp", s.addr("pop3"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idleReader := bufio.NewReader(idle)
	if g, _ := idleReader.ReadString('\n'); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("idle session greeting %q", g)
	}

	// A second serve on the same directory is refused by the flock.
	r := pochta(t, nil, "-d", dir, "serve", "-o", "pop3.listen=127.0.0.1:0", "-o", "pop3s.listen=127.0.0.1:0",
		"-o", "imap.listen=127.0.0.1:0", "-o", "imaps.listen=127.0.0.1:0", "-o", "managesieve.listen=127.0.0.1:0")
	if r.code != exitError || !strings.Contains(r.stderr, "already running") {
		t.Fatalf("second serve: %s", r)
	}
	// deliver works while serve runs.
	must(t, msg, "-d", dir, "deliver", "alice@example.test")

	// SIGTERM ends the idle session at its pending read instead of
	// waiting for shutdown.timeout (an hour here).
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d on SIGTERM\n%s", code, s.logText())
	}
	if _, err := io.ReadAll(idleReader); err != nil {
		t.Fatalf("idle session not closed cleanly: %v", err)
	}
	if log := s.logText(); !strings.Contains(log, "level=DEBUG") || !strings.Contains(log, "msg=stopped") {
		t.Fatalf("log.level=debug override not applied or no clean stop:\n%s", log)
	}
}

// SIGHUP reloads the certificate: pop3s then serves the new one.
func TestServeCertReload(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	s := serve(t, dir)
	if cn := servedCN(t, s.addr("pop3s")); cn != "mail.example.test" {
		t.Fatalf("served %q", cn)
	}
	tmp := t.TempDir()
	cert, key := filepath.Join(tmp, "c.pem"), filepath.Join(tmp, "k.pem")
	if err := tlsutil.WriteSelfSigned(tlsutil.SelfSigned{Hostname: "renewed.example.test"}, cert, key); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{cert, "cert.pem"}, {key, "key.pem"}} {
		if err := os.Rename(p[0], filepath.Join(dir, p[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "certificate reloaded", func() bool { return servedCN(t, s.addr("pop3s")) == "renewed.example.test" })
	// A broken file keeps the old certificate.
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd.Process.Signal(syscall.SIGHUP)
	eventually(t, "failed reload logged", func() bool { return strings.Contains(s.logText(), "reload failed") })
	if cn := servedCN(t, s.addr("pop3s")); cn != "renewed.example.test" {
		t.Fatalf("after a failed reload served %q", cn)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func servedCN(t *testing.T, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "QUIT\r\n")
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestServeConfigErrors(t *testing.T) {
	t.Parallel()
	dir := newDir(t)
	cases := []struct{ want, override string }{
		{"config: pop3.nosuch: unknown key", "pop3.nosuch=1"},
		{"config: pop3.idle_timeout: invalid duration", "pop3.idle_timeout=forever"},
		{"config: smtp.bare_newline:", "smtp.bare_newline=sometimes"},
		{"config: pop3.listen:", "pop3.listen=nowhere"},
		{"config: tls.cert:", "tls.cert=missing.pem"},
		{"no listener enabled", "pop3s.listen="},
	}
	for _, tc := range cases {
		args := append([]string{"-d", dir, "serve", "-o", "pop3.listen=", "-o", "pop3s.listen=127.0.0.1:0",
			"-o", "imap.listen=", "-o", "imaps.listen=", "-o", "managesieve.listen="}, loopbackSMTP("")...)
		args = append(append(args, loopbackWeb("")...), "-o", tc.override)
		expect(t, exitConfig, tc.want, "", args...)
	}
	// A port in use: the error names the listener's key.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	expect(t, exitError, "pop3.listen", "", append([]string{"-d", dir, "serve", "-o", "pop3.listen=" + busy.Addr().String(),
		"-o", "pop3s.listen=", "-o", "imap.listen=", "-o", "imaps.listen=", "-o", "managesieve.listen="}, append(loopbackSMTP(""), loopbackWeb("")...)...)...)
	// The file itself is checked too.
	setConfig(t, dir, "auth", "legacy", `"yes"`)
	expect(t, exitConfig, "config: auth.legacy: want true or false", "", "-d", dir, "user", "list")
}

// imap.idle_timeout is IMAP's autologout timer (issue 8: it had no key):
// a session idle for longer gets BYE and is closed.
func TestServeIMAPIdleTimeout(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	s := serve(t, dir, "imap.idle_timeout=1s")
	c, err := net.Dial("tcp", s.addr("imap"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	read := func() string {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading: %v (got %q)", err, l)
		}
		return l
	}
	read() // greeting
	if _, err := io.WriteString(c, "a LOGIN alice@example.test pw\r\n"); err != nil {
		t.Fatal(err)
	}
	for l := read(); !strings.HasPrefix(l, "a "); l = read() {
	}
	// Then nothing: the server ends the session.
	if l := read(); !strings.HasPrefix(l, "* BYE Autologout") {
		t.Fatalf("idle session: %q, want BYE", l)
	}
	if l, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after BYE: %q, %v; want the end", l, err)
	}
}
