package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// pochtaBin is the binary under test, built once by TestMain.
var pochtaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pochta-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pochtaBin = filepath.Join(dir, "pochta")
	build := exec.Command("go", "build", "-o", pochtaBin, "../cmd/pochta")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pochta:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one initialised data directory and, once started, the
// `pochta serve` process running on it.
type instance struct {
	t     *testing.T
	bin   string // the pochta binary serve runs; pochtaBin when empty
	dir   string
	addrs map[string]string // listener name -> bound address
	cmd   *exec.Cmd
	log   *syncBuffer // everything serve wrote to stderr
}

// newInstance runs `pochta init` with one domain.
func newInstance(t *testing.T, domain string) *instance {
	t.Helper()
	in := &instance{t: t, dir: filepath.Join(t.TempDir(), "data")}
	in.run("", "init", "-d", in.dir, "--domain", domain, "--hostname", "mail."+domain)
	return in
}

// need skips the test when a third-party program it drives is missing.
func need(t *testing.T, program, debianPackage string) {
	t.Helper()
	prototest.NeedProgram(t, program, debianPackage)
}

// imapSession logs in over plain IMAP with the raw-socket test client;
// the connection closes at cleanup.
func imapSession(t *testing.T, addr, user, pass string) *imaptest.Conn {
	t.Helper()
	c, err := imaptest.Dial(addr, imaptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass); err != nil {
		t.Fatal(err)
	}
	return c
}

var raceBin struct {
	once sync.Once
	path string
	err  error
}

// pochtaRaceBin builds pochta with the race detector once, for tests that
// want the server itself checked (a race makes serve exit 66, which the
// instance's cleanup reports with the log).
func pochtaRaceBin(t *testing.T) string {
	t.Helper()
	raceBin.once.Do(func() {
		raceBin.path = pochtaBin + "-race"
		out, err := exec.Command("go", "build", "-race", "-o", raceBin.path, "../cmd/pochta").CombinedOutput()
		if err != nil {
			raceBin.err = fmt.Errorf("go build -race: %v\n%s", err, out)
		}
	})
	if raceBin.err != nil {
		t.Fatal(raceBin.err)
	}
	return raceBin.path
}

// servedWith starts `pochta serve` (the given listeners) for one user of
// example.test whose INBOX holds testMessages.
func servedWith(t *testing.T, user, pass string, listeners ...string) *instance {
	t.Helper()
	in := newInstance(t, "example.test")
	in.addUser(user, pass)
	for _, m := range testMessages {
		in.deliver(user, m)
	}
	in.serve(listeners)
	return in
}

// run runs a pochta subcommand and fails the test unless it exits 0.
func (in *instance) run(stdin string, args ...string) string {
	in.t.Helper()
	out, code := in.runCode(stdin, args...)
	if code != 0 {
		in.t.Fatalf("pochta %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// runCode runs a pochta subcommand with stdin and returns its combined
// output and exit code.
func (in *instance) runCode(stdin string, args ...string) (string, int) {
	in.t.Helper()
	cmd := exec.Command(pochtaBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		in.t.Fatalf("pochta %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

func (in *instance) addUser(address, password string, extra ...string) {
	in.t.Helper()
	args := append([]string{"-d", in.dir, "user", "add", address, "--password-stdin"}, extra...)
	in.run(password+"\n", args...)
}

func (in *instance) deliver(rcpt, message string) {
	in.t.Helper()
	in.run(message, "-d", in.dir, "deliver", rcpt)
}

var listeningRE = regexp.MustCompile(`msg=listening .*name=(\S+) .*addr=(\S+)`)

// serve starts `pochta serve` with every listener on an ephemeral loopback
// port (plus the given overrides) and waits until the wanted listeners are
// bound. The process is stopped with SIGTERM at cleanup.
func (in *instance) serve(want []string, overrides ...string) {
	t := in.t
	t.Helper()
	args := []string{"-d", in.dir, "serve",
		"-o", "pop3.listen=127.0.0.1:0", "-o", "pop3s.listen=127.0.0.1:0",
		"-o", "imap.listen=127.0.0.1:0", "-o", "imaps.listen=127.0.0.1:0", "-o", "managesieve.listen=127.0.0.1:0",
		"-o", "smtp.listen=127.0.0.1:0", "-o", "submission.listen=127.0.0.1:0", "-o", "submissions.listen=127.0.0.1:0",
		"-o", "http.listen=127.0.0.1:0", "-o", "https.listen=127.0.0.1:0", "-o", "metrics.listen=127.0.0.1:0",
		"-o", "dns.zone_file=" + in.zoneFile()}
	for _, o := range overrides {
		args = append(args, "-o", o)
	}
	bin := pochtaBin
	if in.bin != "" {
		bin = in.bin
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader goroutine keeps to this process's own buffer and map: a
	// test that restarts serve must not race with the previous reader.
	logBuf, addrs := &syncBuffer{}, map[string]string{}
	in.cmd, in.log, in.addrs = cmd, logBuf, addrs
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			logBuf.WriteString(line + "\n")
			if m := listeningRE.FindStringSubmatch(line); m != nil && !signalled {
				addrs[m[1]] = m[2]
				if hasAll(addrs, want) {
					signalled = true
					close(found)
				}
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return // already reaped: the test killed it (kill9)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("pochta serve did not exit cleanly on SIGTERM: %v\n%s", err, in.log)
			}
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Errorf("pochta serve ignored SIGTERM\n%s", in.log)
		}
	})
	select {
	case <-found:
	case <-time.After(20 * time.Second):
		t.Fatalf("pochta serve did not report its listeners %v\n%s", want, in.log)
	}
}

// zoneFile is the instance's DNS: a static zone (empty until a test
// writes records), so serve never asks a real resolver (SPF checks, MX
// lookups) and no test traffic leaves loopback.
func (in *instance) zoneFile() string {
	in.t.Helper()
	path := filepath.Join(in.dir, "zone.txt")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		in.t.Fatal(err)
	}
	f.Close()
	return path
}

// addDNS appends records ("name TYPE data" lines) to the instance's zone;
// a running serve reads it at its next start.
func (in *instance) addDNS(records ...string) {
	in.t.Helper()
	f, err := os.OpenFile(in.zoneFile(), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		in.t.Fatal(err)
	}
	defer f.Close()
	for _, r := range records {
		if _, err := f.WriteString(r + "\n"); err != nil {
			in.t.Fatal(err)
		}
	}
}

// kill9 kills the running `pochta serve` with SIGKILL, as a crash or a
// power cut would end it, and reaps it. The process gets no chance to
// finish anything.
func (in *instance) kill9() {
	in.t.Helper()
	if err := in.cmd.Process.Kill(); err != nil {
		in.t.Fatalf("kill -9 pochta serve: %v", err)
	}
	_ = in.cmd.Wait() // "signal: killed", or an exit if it died first
}

// syncBuffer is serve's log: written by the reader goroutine while the
// test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(v)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func hasAll(m map[string]string, keys []string) bool {
	for _, k := range keys {
		if m[k] == "" {
			return false
		}
	}
	return true
}

// python runs a Python 3 script with arguments and returns its stdout; the
// test fails if the script exits non-zero.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{"-c", script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// curl runs curl with arguments and returns its stdout, failing the test on
// a non-zero exit.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "30"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// execOutput runs a command and returns its combined output and error.
func execOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
