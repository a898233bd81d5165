package e2e_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// These tests send mail to `pochta serve` with third-party SMTP clients
// (Python's smtplib, swaks, curl) and read it back over POP3: what arrives
// is what was sent, plus the Return-Path and Received fields.

const smtplibScript = `
import smtplib, ssl, sys
mode, host, port, sender, rcpt, path = sys.argv[1:7]
user, password = (sys.argv[7], sys.argv[8]) if len(sys.argv) > 8 else (None, None)
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
data = open(path, "rb").read()
if mode == "ssl":
    s = smtplib.SMTP_SSL(host, int(port), context=ctx)
else:
    s = smtplib.SMTP(host, int(port))
s.ehlo("client.example")
if mode == "starttls":
    s.starttls(context=ctx)
    s.ehlo("client.example")
if user:
    s.login(user, password)
try:
    refused = s.sendmail(sender, rcpt.split(","), data)
    print("OK", refused)
except smtplib.SMTPResponseException as e:
    print("ERR", e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    print("REFUSED", {k: (v[0], v[1].decode()) for k, v in e.recipients.items()})
s.quit()
`

// smtpMessage has LF line endings (Python sends CRLF, dot-stuffed), a line
// starting with a dot and a lone dot, and 8-bit text.
const smtpMessage = "From: Bob <bob@remote.test>\nTo: alice@example.test\nSubject: over SMTP\n\n" +
	"Hello Alice,\n.a line that starts with a dot\n.\nprivet: \u043f\u0440\u0438\u0432\u0435\u0442\nbye\n"

// fromHeader is smtpMessage as a submission client writes it: from addr
// (submission refuses a From: naming anyone but the account:
// smtp.from_policy), with the Message-ID and Date it would otherwise add.
func fromHeader(addr string) string {
	return strings.Replace(smtpMessage, "From: Bob <bob@remote.test>",
		"From: <"+addr+">\nMessage-ID: <e2e.1@example.test>\nDate: Mon, 30 Nov 2026 10:00:00 +0000", 1)
}

func smtplibSend(t *testing.T, mode, addr, from, rcpts, message string, login ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	path := filepath.Join(t.TempDir(), "msg")
	// smtplib sends bytes as they are (it only stuffs dots): give it CRLF
	// lines, as an MTA would.
	if err := os.WriteFile(path, []byte(crlf(message)), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(python(t, smtplibScript, append([]string{mode, host, port, from, rcpts, path}, login...)...))
}

// traceAndBody splits a retrieved message after its trace fields
// (Return-Path, Received, and Authentication-Results when present) and
// checks their shape.
func traceAndBody(t *testing.T, m string) (trace, body string) {
	t.Helper()
	if !strings.HasPrefix(m, "Return-Path: <") {
		t.Fatalf("message does not start with Return-Path: %q", trunc(m))
	}
	i := strings.Index(m, "\r\n")
	j := i + 2 + strings.Index(m[i+2:], "\r\n")
	for strings.HasPrefix(m[j+2:], "\t") { // folded Received
		j = j + 2 + strings.Index(m[j+2:], "\r\n")
	}
	if !strings.HasPrefix(m[i+2:], "Received: from ") {
		t.Fatalf("second field is not Received: %q", trunc(m[i+2:]))
	}
	// Mail from the MX listener also carries the inbound checks' result.
	if strings.HasPrefix(m[j+2:], "Authentication-Results: ") {
		j = j + 2 + strings.Index(m[j+2:], "\r\n")
		for strings.HasPrefix(m[j+2:], "\t") {
			j = j + 2 + strings.Index(m[j+2:], "\r\n")
		}
	}
	return m[:j+2], m[j+2:]
}

func TestSMTPlibToPOP3(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("alice@example.test", "alice pass")
	in.addUser("bob@example.test", "bob pass")
	in.serve([]string{"smtp", "submission", "submissions", "pop3"})

	if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "alice@example.test", smtpMessage); !strings.HasPrefix(got, "OK {}") {
		t.Fatalf("MX: %s", got)
	}
	if got := smtplibSend(t, "starttls", in.addrs["submission"], "bob@example.test", "alice+tag@example.test", fromHeader("bob@example.test"),
		"bob@example.test", "bob pass"); !strings.HasPrefix(got, "OK {}") {
		t.Fatalf("submission: %s", got)
	}
	if got := smtplibSend(t, "ssl", in.addrs["submissions"], "bob@example.test", "alice@example.test", fromHeader("bob@example.test"),
		"bob@example.test", "bob pass"); !strings.HasPrefix(got, "OK {}") {
		t.Fatalf("submissions: %s", got)
	}
	r := runPoplib(t, "plain", in.addrs["pop3"], "alice@example.test", "alice pass", false)
	if r.Count != 3 {
		t.Fatalf("alice has %d messages, want 3", r.Count)
	}
	for i, m := range r.Msgs {
		trace, body := traceAndBody(t, m)
		sent := smtpMessage
		if i > 0 {
			sent = fromHeader("bob@example.test")
		}
		if body != crlf(sent) {
			t.Errorf("message %d: body differs from what was sent:\n got %q\nwant %q", i+1, trunc(body), trunc(crlf(sent)))
		}
		wantWith := []string{" with ESMTP id ", " with ESMTPSA id ", " with ESMTPSA id "}[i]
		if !strings.Contains(trace, wantWith) || !strings.Contains(trace, "by mail.example.test (Pochta)") {
			t.Errorf("message %d trace:\n%s", i+1, trace)
		}
		if i > 0 && !strings.Contains(trace, "(using TLSv1.3 with cipher ") {
			t.Errorf("message %d trace lacks the TLS parameters:\n%s", i+1, trace)
		}
	}

	// SIZE= over the limit is refused at MAIL FROM.
	host, port, _ := net.SplitHostPort(in.addrs["smtp"])
	declared := python(t, `
import smtplib, sys
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]))
s.ehlo("client.example")
print(s.mail("x@remote.test", ["SIZE=999999999"]))
s.quit()
`, host, port)
	if !strings.Contains(declared, "(552, b'5.3.4") {
		t.Errorf("MAIL FROM with SIZE over the limit: %s", declared)
	}

	// Refusals, as smtplib reports them.
	for _, tc := range []struct{ what, mode, addr, from, rcpt, want string }{
		{"open relay", "plain", in.addrs["smtp"], "x@remote.test", "victim@elsewhere.test", "REFUSED {'victim@elsewhere.test': (550, '5.7.1"},
		{"unknown user", "plain", in.addrs["smtp"], "x@remote.test", "nobody@example.test", "REFUSED {'nobody@example.test': (550, '5.1.1"},
		{"spoofed sender", "starttls", in.addrs["submission"], "alice@example.test", "bob@example.test", "ERR 553 5.7.1"},
	} {
		var login []string
		if tc.mode != "plain" {
			login = []string{"bob@example.test", "bob pass"}
		}
		if got := smtplibSend(t, tc.mode, tc.addr, tc.from, tc.rcpt, smtpMessage, login...); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: %s, want %s...", tc.what, got, tc.want)
		}
	}
}

func swaks(t *testing.T, args ...string) (string, error) {
	t.Helper()
	prototest.NeedProgram(t, "swaks", "swaks")
	cmd := exec.Command("swaks", append([]string{"--timeout", "30", "--helo", "client.example"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSwaks(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("alice@example.test", "alice pass")
	in.serve([]string{"smtp", "submission", "pop3"}, "limits.max_message_size=20000")
	mx, sub := in.addrs["smtp"], in.addrs["submission"]
	// swaks ends the data with CRLF.CRLF itself, so the body it sends
	// ends without a line break.
	// It carries Message-ID and Date, so submission adds nothing and every
	// copy must arrive byte for byte as sent.
	body := "Subject: swaks\nMessage-ID: <swaks.1@example.test>\nDate: Mon, 30 Nov 2026 10:00:00 +0000\n\nfrom swaks"

	ok := []struct {
		name string
		args []string
	}{
		{"mx", []string{"--server", mx, "--from", "x@remote.test", "--to", "alice@example.test"}},
		{"mx pipelining", []string{"--server", mx, "--from", "x@remote.test", "--to", "alice@example.test,alice+p@example.test", "--pipeline"}},
		{"submission STARTTLS AUTH PLAIN", []string{"--server", sub, "--tls", "--auth", "PLAIN", "--auth-user", "alice@example.test",
			"--auth-password", "alice pass", "--from", "alice@example.test", "--to", "alice@example.test"}},
	}
	for _, tc := range ok {
		out, err := swaks(t, append(tc.args, "--data", body)...)
		if err != nil || !strings.Contains(out, "  250 2.0.0 Message accepted for delivery, id ") {
			t.Errorf("%s: %v\n%s", tc.name, err, out)
		}
	}
	refused := []struct {
		name, want string // "* CODE": swaks writes "<** CODE", or "<~* CODE" under TLS
		args       []string
	}{
		{"open relay", "* 550 5.7.1", []string{"--server", mx, "--from", "x@remote.test", "--to", "victim@elsewhere.test"}},
		{"unknown user", "* 550 5.1.1", []string{"--server", mx, "--from", "x@remote.test", "--to", "nobody@example.test"}},
		{"undeclared size", "* 552 5.3.4", []string{"--server", mx, "--from", "x@remote.test", "--to", "alice@example.test",
			"--body", strings.Repeat("0123456789abcdef\n", 1500)}},
		{"submission without AUTH", "* 530 5.7.0", []string{"--server", sub, "--tls", "--from", "alice@example.test", "--to", "alice@example.test"}},
		{"spoofed sender", "* 553 5.7.1", []string{"--server", sub, "--tls", "--auth", "LOGIN", "--auth-user", "alice@example.test",
			"--auth-password", "alice pass", "--from", "ceo@example.test", "--to", "alice@example.test"}},
	}
	for _, tc := range refused {
		out, err := swaks(t, tc.args...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %v, want %s in\n%s", tc.name, err, tc.want, out)
		}
	}
	r := runPoplib(t, "plain", in.addrs["pop3"], "alice@example.test", "alice pass", false)
	if r.Count != 3 { // the pipelined one arrives once for two addresses of alice
		t.Errorf("alice has %d messages, want 3", r.Count)
	}
	for _, m := range r.Msgs {
		if _, b := traceAndBody(t, m); b != crlf(body)+"\r\n" {
			t.Errorf("body %q, want %q", b, crlf(body)+"\r\n")
		}
	}
}

func TestCurlSMTP(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("carol@example.test", "carol pass")
	in.serve([]string{"smtp", "submissions", "pop3s"})
	path := filepath.Join(t.TempDir(), "mail.eml")
	sub := filepath.Join(t.TempDir(), "sub.eml")
	if err := os.WriteFile(path, []byte(smtpMessage), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sub, []byte(fromHeader("carol@example.test")), 0o600); err != nil {
		t.Fatal(err)
	}
	// --crlf: the file has LF line ends, SMTP wants CRLF (without it curl
	// would not dot-stuff the lines either).
	curl(t, "--crlf", "smtp://"+in.addrs["smtp"], "--mail-from", "x@remote.test", "--mail-rcpt", "carol@example.test", "-T", path)
	curl(t, "--crlf", "-k", "smtps://"+in.addrs["submissions"], "-u", "carol@example.test:carol pass",
		"--mail-from", "carol@example.test", "--mail-rcpt", "carol@example.test", "-T", sub)
	r := runPoplib(t, "pop3s", in.addrs["pop3s"], "carol@example.test", "carol pass", false)
	if r.Count != 2 {
		t.Fatalf("carol has %d messages", r.Count)
	}
	for i, m := range r.Msgs {
		want := smtpMessage
		if i > 0 {
			want = fromHeader("carol@example.test")
		}
		if _, b := traceAndBody(t, m); b != crlf(want) {
			t.Errorf("body %q", trunc(b))
		}
	}
}

// TestKillMidDATA kills `pochta serve` with SIGKILL while a client is in
// the middle of DATA: after a restart nothing of the message exists, not in
// the mailbox and not in the usage counter.
func TestKillMidDATA(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("dave@example.test", "dave pass")
	in.serve([]string{"smtp", "pop3"})
	for _, size := range []int{2000, 200000} { // an inline body and a file
		c, err := net.DialTimeout("tcp", in.addrs["smtp"], 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		c.Write([]byte("EHLO x\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<dave@example.test>\r\nDATA\r\n"))
		for _, want := range []string{"220 ", "250 ", "250 ", "250 ", "354 "} {
			line := ""
			for {
				line, err = r.ReadString('\n')
				if err != nil || len(line) < 4 || line[3] != '-' {
					break
				}
			}
			if !strings.HasPrefix(line, want) {
				t.Fatalf("got %q (%v), want %q", line, err, want)
			}
		}
		c.Write([]byte("Subject: never\r\n\r\n" + strings.Repeat("x", size)))
		time.Sleep(200 * time.Millisecond) // let the server read and spill
		in.kill9()
		c.Close()
		in.serve([]string{"smtp", "pop3"})
	}
	p, err := dialPOP3(in.addrs["pop3"])
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if _, err := p.login("dave@example.test", "dave pass"); err != nil {
		t.Fatal(err)
	}
	if n, err := p.stat(); err != nil || n != 0 {
		t.Errorf("STAT after kill -9 mid-DATA: %d messages (%v), want 0", n, err)
	}
	if out := in.run("", "-d", in.dir, "user", "list"); !strings.Contains(out, "dave@example.test used=0 ") {
		t.Errorf("user list: %q", out)
	}
}
