package e2e_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// TestSieveEndToEnd: a script uploaded with sieve-connect over ManageSieve
// (STARTTLS) files mail arriving over SMTP into a folder with flags, as
// IMAP then shows, and its vacation action answers the sender once per
// period through the outbound queue, reaching a loopback MX.
func TestSieveEndToEnd(t *testing.T) {
	t.Parallel()
	need(t, "python3", "python3")
	need(t, "sieve-connect", "sieve-connect")
	in := newInstance(t, "example.test")
	in.addUser("alice@example.test", "pw-alice-123")
	mx := newScriptedMX(t)
	in.serve([]string{"smtp", "imap", "managesieve"}, "queue.routes=remote.test="+mx.addr, "queue.poll_interval=100ms")

	script := `require ["fileinto", "mailbox", "imap4flags", "vacation"];
if header :contains "subject" "report" {
    fileinto :create :flags ["\\Seen", "$Report"] "Reports/Daily";
}
vacation :days 3 :subject "Away" "Back on Monday.";
`
	local := filepath.Join(t.TempDir(), "filters.sieve")
	if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(in.addrs["managesieve"])
	for _, args := range [][]string{
		{"--upload", "--localsieve", local, "--remotesieve", "filters"},
		{"--activate", "--remotesieve", "filters"},
	} {
		out, err := prototest.SieveConnect(t, host, port, "alice@example.test", "pw-alice-123", args...)
		if err != nil {
			t.Fatalf("sieve-connect %q: %v\n%s\n%s", args, err, out, in.log)
		}
	}
	if !strings.Contains(in.log.String(), "tls=true") {
		t.Errorf("sieve-connect did not log in over TLS:\n%s", in.log)
	}

	msg := "From: Bob <bob@remote.test>\nTo: alice@example.test\nSubject: daily report\nMessage-ID: <r1@remote.test>\n\nnumbers\n"
	for range 2 {
		if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "alice@example.test", msg); !strings.HasPrefix(got, "OK {}") {
			t.Fatalf("SMTP: %s\n%s", got, in.log)
		}
	}

	ic := imapSession(t, in.addrs["imap"], "alice@example.test", "pw-alice-123")
	res, err := ic.MustOK(`EXAMINE "Reports/Daily"`)
	if err == nil {
		res, err = ic.MustOK("FETCH 1:* (FLAGS)")
	}
	if err != nil {
		t.Fatal(err)
	}
	fetched := res.Named("FETCH")
	if len(fetched) != 2 {
		t.Fatalf("Reports/Daily holds %d messages, want 2", len(fetched))
	}
	for _, r := range fetched {
		if s := r.String(); !strings.Contains(s, `\Seen`) || !strings.Contains(s, "$Report") {
			t.Errorf("flags over IMAP: %s", s)
		}
	}
	if res, err := ic.MustOK("STATUS INBOX (MESSAGES)"); err != nil || !strings.Contains(res.Untagged[0].String(), "MESSAGES 0") {
		t.Errorf("INBOX: %v %v", res, err)
	}

	// Both deliveries returned their 250 after the reply decision was
	// made: one reply was queued, the second was suppressed by :days.
	if n := strings.Count(in.log.String(), "vacation reply queued"); n != 1 {
		t.Errorf("%d vacation replies queued for two messages in one period, want 1\n%s", n, in.log)
	}
	eventually(t, "the vacation reply at the remote MX", func() bool { return mx.accepted() >= 1 })
	mx.mu.Lock()
	reply := mx.got[0]
	mx.mu.Unlock()
	for _, want := range []string{"Auto-Submitted: auto-replied", "Subject: Away", "In-Reply-To: <r1@remote.test>", "Back on Monday."} {
		if !strings.Contains(reply, want) {
			t.Errorf("vacation reply lacks %q:\n%s", want, reply)
		}
	}
	if out := in.run("", "-d", in.dir, "queue", "list"); strings.TrimSpace(out) != "" {
		t.Errorf("queue not empty after the reply went:\n%s", out)
	}

	// A reject is the SMTP reply (RFC 5429 2.1).
	in.run("require \"reject\";\nreject \"Not accepting mail today.\";\n",
		"-d", in.dir, "sieve", "put", "alice@example.test", "closed", "--activate")
	if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "alice@example.test", msg); got != "ERR 550 5.7.1 Not accepting mail today." {
		t.Errorf("SMTP after reject: %q", got)
	}
	// With another recipient who takes it, the sender gets a notice
	// instead, from the null sender through the queue (RFC 5429 2.1).
	in.addUser("bob@example.test", "pw-bob-12345")
	if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "alice@example.test,bob@example.test", msg); !strings.HasPrefix(got, "OK {}") {
		t.Fatalf("SMTP to a rejecting and an accepting recipient: %s\n%s", got, in.log)
	}
	eventually(t, "the reject notice at the remote MX", func() bool { return mx.accepted() >= 2 })
	// A redirect, stored with the CLI while serve runs (the running
	// filter sees the change at the next message), is queued and sent
	// on with the mark that stops loops (RFC 5228 4.2).
	in.run("redirect \"carol@remote.test\";\n", "-d", in.dir, "sieve", "put", "alice@example.test", "forward", "--activate")
	if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "alice@example.test", msg); !strings.HasPrefix(got, "OK {}") {
		t.Fatalf("SMTP to a redirecting recipient: %s\n%s", got, in.log)
	}
	eventually(t, "the redirected message at the remote MX", func() bool { return mx.accepted() >= 3 })
	mx.mu.Lock()
	notice, redirected := mx.got[1], mx.got[2]
	mx.mu.Unlock()
	if !strings.Contains(notice, "Not accepting mail today.") {
		t.Errorf("reject notice:\n%s", notice)
	}
	for _, want := range []string{"X-Sieve-Redirected-From: <alice@example.test>", "Subject: daily report", "numbers"} {
		if !strings.Contains(redirected, want) {
			t.Errorf("redirected message lacks %q:\n%s", want, redirected)
		}
	}
}

// TestSieveExtensionsEndToEnd: a script using the later extensions
// (variables, regex, body, editheader, duplicate, date), uploaded with
// sieve-connect, files mail sent over SMTP into a folder named from the
// subject with a header it added, as IMAP shows; the same Message-ID a
// second time is filed as a duplicate.
func TestSieveExtensionsEndToEnd(t *testing.T) {
	t.Parallel()
	need(t, "python3", "python3")
	need(t, "sieve-connect", "sieve-connect")
	in := newInstance(t, "example.test")
	in.addUser("carol@example.test", "pw-carol-123")
	in.serve([]string{"smtp", "imap", "managesieve"})

	script := `require ["fileinto", "mailbox", "variables", "regex", "body", "editheader", "duplicate", "date", "relational", "imap4flags"];
if duplicate { fileinto :create "Dups"; stop; }
if header :regex "subject" "^\\[([a-z]+)\\] " {
    set :upperfirst "list" "${1}";
    if currentdate :value "ge" "year" "2000" { addheader "X-Sieve-List" "${list}"; }
    if body :text :contains "urgent" { addflag "\\Flagged"; }
    fileinto :create "Lists/${list}";
}
`
	local := filepath.Join(t.TempDir(), "ext.sieve")
	if err := os.WriteFile(local, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(in.addrs["managesieve"])
	for _, args := range [][]string{
		{"--upload", "--localsieve", local, "--remotesieve", "ext"},
		{"--activate", "--remotesieve", "ext"},
	} {
		if out, err := prototest.SieveConnect(t, host, port, "carol@example.test", "pw-carol-123", args...); err != nil {
			t.Fatalf("sieve-connect %q: %v\n%s\n%s", args, err, out, in.log)
		}
	}
	msg := "From: Bob <bob@remote.test>\nTo: carol@example.test\nSubject: [golang] release\nMessage-ID: <g1@remote.test>\n\nan urgent fix\n"
	for range 2 {
		if got := smtplibSend(t, "plain", in.addrs["smtp"], "bob@remote.test", "carol@example.test", msg); !strings.HasPrefix(got, "OK {}") {
			t.Fatalf("SMTP: %s\n%s", got, in.log)
		}
	}
	ic := imapSession(t, in.addrs["imap"], "carol@example.test", "pw-carol-123")
	res, err := ic.MustOK(`EXAMINE "Lists/Golang"`)
	if err == nil {
		res, err = ic.MustOK("FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (X-Sieve-List Subject)] BODY.PEEK[TEXT])")
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, in.log)
	}
	fetched := res.Named("FETCH")
	if len(fetched) != 1 {
		t.Fatalf("Lists/Golang holds %d messages, want 1", len(fetched))
	}
	for _, want := range []string{`\Flagged`, "X-Sieve-List: Golang", "Subject: [golang] release", "an urgent fix"} {
		if s := fetched[0].String(); !strings.Contains(s, want) {
			t.Errorf("FETCH lacks %q: %s", want, s)
		}
	}
	if res, err := ic.MustOK("STATUS Dups (MESSAGES)"); err != nil || !strings.Contains(res.Untagged[0].String(), "MESSAGES 1") {
		t.Errorf("Dups: %v %v", res, err)
	}
}
