package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// newInstanceHost runs `pochta init` with one domain and a host name
// (an IP literal gives the self-signed certificate an IP SAN).
func newInstanceHost(t *testing.T, domain, hostname string) *instance {
	t.Helper()
	in := &instance{t: t, dir: filepath.Join(t.TempDir(), "data")}
	in.run("", "init", "-d", in.dir, "--domain", domain, "--hostname", hostname)
	return in
}

// trustForFetch makes in's fetcher trust the certificate file cert
// (fetch.tls_ca_file in its pochta.toml, read by serve and the CLI).
func (in *instance) trustForFetch(cert string) {
	in.t.Helper()
	path := filepath.Join(in.dir, "pochta.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		in.t.Fatal(err)
	}
	const key = "# certificates of fetch sources (for a remote server with a private CA).\ntls_ca_file = \"\""
	if !strings.Contains(string(b), key) {
		in.t.Fatalf("no fetch.tls_ca_file line in %s", path)
	}
	s := strings.Replace(string(b), key, strings.TrimSuffix(key, `""`)+fmt.Sprintf("%q", cert), 1)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		in.t.Fatal(err)
	}
}

// inboxCount counts the messages of an account's INBOX, opening the
// store next to a running serve (as the admin commands do).
func (in *instance) inboxCount(address string) int {
	in.t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, in.dir, sqlite.Options{})
	if err != nil {
		in.t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(ctx, address)
	if err != nil {
		in.t.Fatal(err)
	}
	mb, err := st.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		in.t.Fatal(err)
	}
	status, err := st.MailboxStatus(ctx, mb.ID)
	if err != nil {
		in.t.Fatal(err)
	}
	return status.Messages
}

// waitFor polls cond until it holds or 30 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The commands as an operator types them, and serve fetching through
// IMAP IDLE: a new message on the source arrives within seconds although
// the poll interval is five minutes.
func TestFetchCommandsAndServe(t *testing.T) {
	t.Parallel()
	remote := newInstanceHost(t, "example.test", "127.0.0.1")
	remote.addUser("remote@example.test", "remote-pw")
	remote.deliver("remote@example.test", fetchMessage(1))
	remote.deliver("remote@example.test", fetchMessage(2))
	remote.serve([]string{"imaps", "pop3s"})

	local := newInstance(t, "local.test")
	local.addUser("me@local.test", "me-pw")
	local.trustForFetch(filepath.Join(remote.dir, "cert.pem"))
	d := "-d"
	url := "imaps://remote%40example.test@" + remote.addrs["imaps"] + "/"

	out, code := local.runCode("", d, local.dir, "fetch", "add", "me@local.test", "pop3://x@h/", "--password-stdin")
	if code != exitUsageCode || !strings.Contains(out, "add ?starttls") {
		t.Errorf("fetch add of a cleartext URL: exit %d\n%s", code, out)
	}
	out, code = local.runCode("pw\n", d, local.dir, "fetch", "add", "nobody@local.test", url, "--password-stdin")
	if code == 0 || !strings.Contains(out, "nobody@local.test does not exist") {
		t.Errorf("fetch add for an unknown user: exit %d\n%s", code, out)
	}
	out = local.run("remote-pw\n", d, local.dir, "fetch", "add", "me@local.test", url, "--password-stdin")
	if !strings.Contains(out, "fetch source 1 added") {
		t.Fatalf("fetch add: %s", out)
	}
	local.run("wrong\n", d, local.dir, "fetch", "add", "me@local.test",
		"pop3s://remote%40example.test@"+remote.addrs["pop3s"]+"/", "--password-stdin", "--delete", "--interval", "10m")
	for _, f := range []string{"pochta.db", "pochta.db-wal"} {
		if b, err := os.ReadFile(filepath.Join(local.dir, f)); err == nil && strings.Contains(string(b), "remote-pw") {
			t.Errorf("%s holds the source's password in clear", f)
		}
	}
	if fi, err := os.Stat(filepath.Join(local.dir, "fetch.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("fetch.key: %v, %v; want mode 0600", fi, err)
	}
	out = local.run("", d, local.dir, "fetch", "list")
	if !strings.Contains(out, "1 me@local.test "+url+" keep last_run=never fetched=0") || !strings.Contains(out, "2 me@local.test pop3s://") ||
		strings.Contains(out, "remote-pw") {
		t.Errorf("fetch list:\n%s", out)
	}
	out = local.run("", d, local.dir, "fetch", "run", "1")
	if !strings.Contains(out, "1 "+url+": 2 fetched, 0 skipped (too large), 0 deleted on the source") {
		t.Errorf("fetch run 1:\n%s", out)
	}
	out, code = local.runCode("", d, local.dir, "fetch", "run")
	if code != 1 || !strings.Contains(out, "1 "+url+": 0 fetched") || !strings.Contains(out, "2 pop3s://") ||
		!strings.Contains(out, "login as remote@example.test: remote server refused AUTH PLAIN") {
		t.Errorf("fetch run (one source with a wrong password): exit %d\n%s", code, out)
	}
	out = local.run("", d, local.dir, "fetch", "show", "2")
	if !strings.Contains(out, "policy: delete\ninterval: 10m0s\n") || !strings.Contains(out, "failures in a row: 1\nlast error: login as") ||
		strings.Contains(out, "wrong") {
		t.Errorf("fetch show 2:\n%s", out)
	}
	local.run("", d, local.dir, "fetch", "del", "2")
	if out, code := local.runCode("", d, local.dir, "fetch", "show", "2"); code != 1 || !strings.Contains(out, "fetch source 2 does not exist") {
		t.Errorf("fetch show of a deleted source: exit %d\n%s", code, out)
	}
	if n := local.inboxCount("me@local.test"); n != 2 {
		t.Fatalf("local INBOX holds %d messages, want 2", n)
	}

	local.serve([]string{"imap", "metrics"})
	remote.deliver("remote@example.test", fetchMessage(3))
	waitFor(t, "message 3 fetched through IDLE", func() bool { return local.inboxCount("me@local.test") == 3 })
	// The pass that stored it is logged and counted just after.
	waitFor(t, "the pass logged", func() bool { return strings.Contains(local.log.String(), "msg=fetched") })
	if strings.Contains(local.log.String(), "remote-pw") {
		t.Errorf("serve logged the source's password:\n%s", local.log)
	}
	metrics := curl(t, "-s", "http://"+local.addrs["metrics"]+"/metrics")
	if !strings.Contains(metrics, `pochta_messages_received_total{source="fetch"}`) || !strings.Contains(metrics, `pochta_fetch_runs_total{proto="imaps",result="ok"}`) {
		t.Errorf("metrics lack the fetcher's counters:\n%s", grepLines(metrics, "fetch"))
	}
}

const exitUsageCode = 64

// gateProxy forwards connections to a backend until one has passed
// holdAfter octets from the backend: from then on that connection is
// held where it is (nothing more goes either way, nothing is closed)
// until drop closes it. Connections made later are forwarded as before.
type gateProxy struct {
	addr  string
	mu    sync.Mutex
	conns []*gatedConn
}

type gatedConn struct {
	client, backend net.Conn
	held            atomic.Bool
}

func newGateProxy(t *testing.T, backend string, holdAfter int64) *gateProxy {
	p := &gateProxy{}
	p.addr = prototest.ServeLoopback(t, func(c net.Conn) {
		b, err := net.Dial("tcp", backend)
		if err != nil {
			c.Close()
			return
		}
		g := &gatedConn{client: c, backend: b}
		p.mu.Lock()
		p.conns = append(p.conns, g)
		p.mu.Unlock()
		go g.pipe(b, c, -1)
		g.pipe(c, b, holdAfter)
	})
	t.Cleanup(p.drop)
	return p
}

// pipe copies src to dst until either fails, or the connection is held,
// which it is once limit octets (< 0: no limit) went through.
func (g *gatedConn) pipe(dst, src net.Conn, limit int64) {
	buf := make([]byte, 32<<10)
	for !g.held.Load() {
		n, err := src.Read(buf)
		if limit >= 0 && int64(n) > limit {
			n = int(limit)
		}
		if n > 0 && !g.held.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				break
			}
			limit -= int64(n)
		}
		if limit == 0 {
			g.held.Store(true)
		}
		if err != nil {
			break
		}
	}
	if !g.held.Load() {
		dst.Close()
	}
}

// drop closes the connections held.
func (p *gateProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.conns {
		if g.held.Load() {
			g.client.Close()
			g.backend.Close()
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// SIGKILL of serve in the middle of a fetch that deletes on the source:
// after it, a run stores what is missing and deletes the rest on the
// source; every message is stored exactly once, none lost, and the local
// UIDs follow the source's order across the batches and the kill.
func TestFetchKill9(t *testing.T) {
	t.Parallel()
	const n = 300
	d := startDovecotWith(t, map[string]string{"remote@dovecot.test": "dv-pw"}, dovecotOptions{POP3: true, TLS: true, CertHost: "localhost"})
	c := dialIMAP(t, d.addr, "remote@dovecot.test", "dv-pw")
	pad := strings.Repeat("padding to make the message take some time to store\r\n", 300)
	for i := 1; i <= n; i++ {
		appendTo(t, c, "INBOX", fetchMessage(i)+pad)
	}
	local := newInstance(t, "local.test")
	local.addUser("me@local.test", "me-pw")
	local.trustForFetch(d.cert)
	// Through a proxy that stops the fetch where it is after about two
	// thirds of the messages (n of 16 KB): without it a fast fetch could
	// be over, the source's messages deleted, before the kill.
	gate := newGateProxy(t, d.pop3s, int64(n)*16<<10*2/3)
	local.run("dv-pw\n", "-d", local.dir, "fetch", "add", "me@local.test",
		"pop3s://remote%40dovecot.test@localhost:"+portOf(gate.addr)+"/", "--password-stdin", "--delete")
	local.serve([]string{"imap"})
	ctx := context.Background()
	st, err := sqlite.Open(ctx, local.dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, _ := st.Account(ctx, "me@local.test")
	inbox, _ := st.GetMailbox(ctx, a.ID, "INBOX")
	count := func() int {
		s, err := st.MailboxStatus(ctx, inbox.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s.Messages
	}
	waitFor(t, "the fetch to get going", func() bool { return count() >= 30 })
	local.kill9()
	gate.drop() // the source's session ends without QUIT: nothing deleted
	atKill := count()
	t.Logf("killed serve with %d of %d messages stored", atKill, n)

	out := local.run("", "-d", local.dir, "fetch", "run")
	if !strings.Contains(out, fmt.Sprintf("%d fetched", n-atKill)) || !strings.Contains(out, fmt.Sprintf("%d deleted on the source", n)) {
		t.Errorf("fetch run after the kill:\n%s", out)
	}
	ids, err := st.ListUIDs(ctx, inbox.ID)
	if err != nil || len(ids) != n {
		t.Fatalf("%d messages stored (%v), want %d", len(ids), err, n)
	}
	seen := map[string]bool{}
	for k, uid := range ids {
		r, err := st.OpenMessage(ctx, inbox.ID, uid)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		_, err = io.Copy(&b, r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(b.String(), "Subject: ")
		subj := b.String()[i : i+strings.Index(b.String()[i:], "\r\n")]
		if seen[subj] {
			t.Errorf("%s stored twice", subj)
		}
		if want := fmt.Sprintf("Subject: message %d", k+1); subj != want {
			t.Errorf("UID %d holds %q, want %q (the source's order)", uid, subj, want)
		}
		seen[subj] = true
	}
	status, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *status.NumMessages != 0 {
		t.Errorf("Dovecot's INBOX after the fetch: %v, %v; want empty", status, err)
	}
}
