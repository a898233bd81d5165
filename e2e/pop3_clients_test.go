package e2e_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
)

// These tests drive `pochta serve` with third-party POP3 clients (Python's
// poplib and curl) over plain POP3, STLS and POP3S, and check that what they
// download is byte for byte what `pochta deliver` stored.

// Messages as an MTA would hand them over: LF line endings, a line that
// needs dot-stuffing, and a line that is a lone dot.
var testMessages = []string{
	"From: bob@example.org\nTo: alice@example.test\nSubject: first\n\nHello Alice.\n.hidden line\n.\nbye\n",
	"From: carol@example.org\nTo: alice@example.test\nSubject: second\n\n" + strings.Repeat("line of text, long enough to matter\n", 2000),
}

// crlf returns the message as Pochta stores it.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// poplibScript logs in with the requested transport, reports STAT, UIDL and
// every message (joined back with CRLF, as RETR sent them before
// stuffing), optionally deletes message 1, and QUITs.
const poplibScript = `
import json, poplib, ssl, sys
mode, host, port, user, password, delete = sys.argv[1:7]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "pop3s":
    p = poplib.POP3_SSL(host, int(port), context=ctx)
else:
    p = poplib.POP3(host, int(port))
    if mode == "stls":
        caps = p.capa()
        assert "STLS" in caps, caps
        p.stls(context=ctx)
caps = p.capa()
p.user(user)
p.pass_(password)
count, size = p.stat()
uidls = [l.decode().split(" ", 1)[1] for l in p.uidl()[1]]
msgs = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    msgs.append(b"".join(l + b"\r\n" for l in lines).decode())
top = b"\r\n".join(p.top(1, 0)[1]).decode() if count else ""
if delete == "yes":
    p.dele(1)
p.quit()
print(json.dumps({"count": count, "size": size, "uidls": uidls, "msgs": msgs, "top": top, "caps": sorted(caps)}))
`

type poplibResult struct {
	Count int
	Size  int
	UIDLs []string
	Msgs  []string
	Top   string
	Caps  []string
}

func runPoplib(t *testing.T, mode, addr, user, pass string, del bool) poplibResult {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	d := "no"
	if del {
		d = "yes"
	}
	out := python(t, poplibScript, mode, host, port, user, pass, d)
	var r poplibResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("poplib output: %v\n%s", err, out)
	}
	return r
}

func TestPoplib(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("alice@example.test", "correct horse battery")
	for _, m := range testMessages {
		in.deliver("alice@example.test", m)
	}
	in.serve([]string{"pop3", "pop3s"})

	wantSize := 0
	for _, m := range testMessages {
		wantSize += len(crlf(m))
	}
	var firstUIDLs []string
	for _, mode := range []string{"plain", "stls", "pop3s"} {
		t.Run(mode, func(t *testing.T) {
			addr := in.addrs["pop3"]
			if mode == "pop3s" {
				addr = in.addrs["pop3s"]
			}
			r := runPoplib(t, mode, addr, "alice@example.test", "correct horse battery", false)
			if r.Count != len(testMessages) || r.Size != wantSize {
				t.Fatalf("STAT = %d %d, want %d %d", r.Count, r.Size, len(testMessages), wantSize)
			}
			for i, m := range testMessages {
				if r.Msgs[i] != crlf(m) {
					t.Errorf("message %d differs from what was delivered:\n got %q\nwant %q", i+1, trunc(r.Msgs[i]), trunc(crlf(m)))
				}
			}
			wantTop := strings.SplitN(crlf(testMessages[0]), "\r\n\r\n", 2)[0] + "\r\n"
			if r.Top != wantTop {
				t.Errorf("TOP 1 0 = %q, want %q", r.Top, wantTop)
			}
			if firstUIDLs == nil {
				firstUIDLs = r.UIDLs
			} else if strings.Join(r.UIDLs, " ") != strings.Join(firstUIDLs, " ") {
				t.Errorf("UIDLs changed between sessions: %v then %v", firstUIDLs, r.UIDLs)
			}
			if mode == "plain" && !contains(r.Caps, "STLS") {
				t.Errorf("CAPA on the plain port lacks STLS: %v", r.Caps)
			}
			if mode != "plain" && contains(r.Caps, "STLS") {
				t.Errorf("CAPA over TLS still offers STLS: %v", r.Caps)
			}
		})
	}

	t.Run("delete", func(t *testing.T) {
		runPoplib(t, "plain", in.addrs["pop3"], "alice@example.test", "correct horse battery", true)
		r := runPoplib(t, "pop3s", in.addrs["pop3s"], "alice@example.test", "correct horse battery", false)
		if r.Count != len(testMessages)-1 || r.Msgs[0] != crlf(testMessages[1]) {
			t.Fatalf("after DELE 1 + QUIT: %d messages, first %q", r.Count, trunc(r.Msgs[0]))
		}
		if len(firstUIDLs) > 1 && r.UIDLs[0] != firstUIDLs[1] {
			t.Errorf("surviving message's UIDL changed: %s, was %s", r.UIDLs[0], firstUIDLs[1])
		}
	})
}

func TestCurl(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("bob@example.test", "s3cret-pass")
	for _, m := range testMessages {
		in.deliver("bob@example.test", m)
	}
	in.serve([]string{"pop3", "pop3s"})
	user := "bob@example.test:s3cret-pass"

	for _, tc := range []struct{ name, url string }{
		{"pop3", "pop3://" + in.addrs["pop3"]},
		{"pop3s", "pop3s://" + in.addrs["pop3s"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := curl(t, "-k", "-u", user, tc.url+"/")
			var want strings.Builder
			for i, m := range testMessages {
				want.WriteString(strings.Join([]string{itoa(i + 1), itoa(len(crlf(m)))}, " ") + "\r\n")
			}
			if list != want.String() {
				t.Errorf("LIST via curl = %q, want %q", list, want.String())
			}
			for i, m := range testMessages {
				got := curl(t, "-k", "-u", user, tc.url+"/"+itoa(i+1))
				if got != crlf(m) {
					t.Errorf("RETR %d via curl differs:\n got %q\nwant %q", i+1, trunc(got), trunc(crlf(m)))
				}
			}
		})
	}
	t.Run("pop3+STLS", func(t *testing.T) {
		got := curl(t, "-k", "--ssl-reqd", "-u", user, "pop3://"+in.addrs["pop3"]+"/1")
		if got != crlf(testMessages[0]) {
			t.Errorf("RETR 1 over STLS via curl = %q", trunc(got))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		cmd := []string{"-sS", "--max-time", "30", "-u", "bob@example.test:wrong", "pop3://" + in.addrs["pop3"] + "/"}
		if out, err := execOutput("curl", cmd...); err == nil {
			t.Fatalf("curl with a wrong password succeeded: %q", out)
		}
	})
}

func trunc(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
