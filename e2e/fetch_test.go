package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/delivery"
	"github.com/pochta-mail/pochta/internal/fetch"
	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// fetchMessage is a message with a Message-ID, i: its number.
func fetchMessage(i int) string {
	return fmt.Sprintf("From: sender%d@example.org\r\nTo: remote@example.test\r\nMessage-ID: <m%d@example.org>\r\n"+
		"Subject: message %d\r\n\r\nbody of message %d\r\n.leading dot\r\n", i, i, i, i)
}

// fetchSide is the local end of fetch tests: a store of its own with the
// account me@local.test, and the fetcher, in process.
type fetchSide struct {
	t       testing.TB
	st      store.Store
	acct    store.Account
	roots   *x509.CertPool
	hosts   map[string]string // host name -> the IP address the fetcher dials instead
	mu      sync.Mutex
	lastRaw net.Conn // the last connection dialed, for crash simulations
}

func newFetchSide(t testing.TB) *fetchSide {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newFetchSideOn(t, st)
}

// newFetchSideOn is newFetchSide on a given engine, closed at cleanup.
func newFetchSideOn(t testing.TB, st store.Store) *fetchSide {
	t.Helper()
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if err := st.AddDomain(ctx, "local.test"); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount(ctx, "me@local.test", store.Credentials{PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return &fetchSide{t: t, st: st, acct: a, roots: x509.NewCertPool(), hosts: map[string]string{}}
}

// trust adds a PEM certificate file to the fetcher's roots.
func (fs *fetchSide) trust(path string) {
	pem, err := os.ReadFile(path)
	if err != nil {
		fs.t.Fatal(err)
	}
	if !fs.roots.AppendCertsFromPEM(pem) {
		fs.t.Fatalf("no certificate in %s", path)
	}
}

// fetcher returns a fetcher into fs's store through d (the real
// delivery path when nil).
func (fs *fetchSide) fetcher(d fetch.Deliverer) *fetch.Fetcher {
	if d == nil {
		d = &delivery.Deliverer{Store: fs.st, Hostname: "mail.local.test"}
	}
	return &fetch.Fetcher{
		Store: fs.st, Deliverer: d, Hostname: "mail.local.test",
		TLSConfig: &tls.Config{RootCAs: fs.roots},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, _ := net.SplitHostPort(addr)
			if ip, ok := fs.hosts[host]; ok {
				addr = net.JoinHostPort(ip, port)
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				fs.mu.Lock()
				fs.lastRaw = c
				fs.mu.Unlock()
			}
			return c, err
		},
	}
}

// source adds a fetch source for fs's account.
func (fs *fetchSide) source(url, password string, del bool) store.FetchSource {
	fs.t.Helper()
	if _, err := fetch.ParseURL(url); err != nil {
		fs.t.Fatal(err)
	}
	src, err := fs.st.AddFetchSource(context.Background(), store.FetchSource{AccountID: fs.acct.ID, URL: url,
		Password: password, Delete: del})
	if err != nil {
		fs.t.Fatal(err)
	}
	return src
}

// runFetcher runs f.Run (every source, as serve does) until the test
// ends.
func runFetcher(t *testing.T, f *fetch.Fetcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// run runs src once with f and fails the test on error.
func (fs *fetchSide) run(f *fetch.Fetcher, src store.FetchSource) fetch.Result {
	fs.t.Helper()
	res, err := f.RunOnce(context.Background(), src)
	if err != nil {
		fs.t.Fatalf("fetch %s: %v", src.URL, err)
	}
	return res
}

// subjects lists the Subject of every message in the local INBOX, in
// delivery order, and checks that each has the fetcher's Received field.
func (fs *fetchSide) subjects() []string {
	fs.t.Helper()
	var out []string
	for _, b := range storetest.Bodies(fs.t, fs.st, fs.acct.ID) {
		if !strings.HasPrefix(b, "Received: from ") || !strings.Contains(b, "(Pochta) with ") {
			fs.t.Errorf("fetched message without the fetcher's Received field:\n%.300s", b)
		}
		i := strings.Index(b, "\r\nSubject: ")
		if i < 0 {
			out = append(out, "?")
			continue
		}
		s := b[i+len("\r\nSubject: "):]
		out = append(out, s[:strings.Index(s, "\r\n")])
	}
	return out
}

func wantSubjects(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("local INBOX holds %q, want %q", got, want)
	}
}

// remotePochta starts `pochta serve` as the remote server, with the
// account remote@example.test holding messages 1 and 2, and makes fs dial
// it (as mail.example.test, the name its certificate is for) and trust its
// certificate.
func remotePochta(t *testing.T, fs *fetchSide) *instance {
	t.Helper()
	in := newInstance(t, "example.test")
	in.addUser("remote@example.test", "remote-pw")
	in.deliver("remote@example.test", fetchMessage(1))
	in.deliver("remote@example.test", fetchMessage(2))
	in.serve([]string{"pop3s", "imaps", "pop3", "imap"})
	fs.trust(filepath.Join(in.dir, "cert.pem"))
	return in
}

// via is the host:port of a listener of in as URLs name it: by the host
// name of its certificate, which fs dials on loopback.
func (fs *fetchSide) via(in *instance, listener string) string {
	ip, port, _ := net.SplitHostPort(in.addrs[listener])
	fs.hosts["mail.example.test"] = ip
	return "mail.example.test:" + port
}

func TestFetchFromPochtaKeep(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"pop3s", "imaps"} {
		t.Run(scheme, func(t *testing.T) {
			fs := newFetchSide(t)
			in := remotePochta(t, fs)
			src := fs.source(scheme+"://remote@example.test@"+fs.via(in, scheme)+"/", "remote-pw", false)
			f := fs.fetcher(nil)
			if res := fs.run(f, src); res.Fetched != 2 {
				t.Fatalf("first run fetched %d, want 2", res.Fetched)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2")
			if res := fs.run(f, src); res.Fetched != 0 {
				t.Fatalf("second run fetched %d, want 0", res.Fetched)
			}
			in.deliver("remote@example.test", fetchMessage(3))
			// A new fetcher (a restart) knows what was fetched from the store.
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 1 {
				t.Fatalf("run after new mail fetched %d, want 1", res.Fetched)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3")
			got, _ := fs.st.FetchSource(context.Background(), src.ID)
			if got.Fetched != 3 || got.LastError != "" || got.LastRun.IsZero() {
				t.Errorf("source after the runs: %+v", got)
			}
		})
	}
}

// A message too large to wait in memory for its batch (over 1 MiB) is
// stored in a commit of its own, after the batch before it and before the
// messages after it: the local UIDs follow the source's order.
func TestFetchOrderAroundLargeMessage(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"pop3s", "imaps"} {
		t.Run(scheme, func(t *testing.T) {
			fs := newFetchSide(t)
			in := remotePochta(t, fs)
			in.deliver("remote@example.test", fetchMessage(3)+strings.Repeat("large body line of 32 octets..\r\n", 50000))
			in.deliver("remote@example.test", fetchMessage(4))
			src := fs.source(scheme+"://remote%40example.test@"+fs.via(in, scheme)+"/", "remote-pw", false)
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 4 {
				t.Fatalf("fetched %d, want 4", res.Fetched)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3", "message 4")
		})
	}
}

// A local account over quota: the run fails saying so, nothing is stored
// or recorded, and nothing is deleted on the source (delete policy); once
// the quota allows it, the next run fetches and deletes everything.
func TestFetchOverQuota(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"pop3s", "imaps"} {
		t.Run(scheme, func(t *testing.T) {
			fs := newFetchSide(t)
			in := remotePochta(t, fs)
			ctx := context.Background()
			if err := fs.st.SetQuota(ctx, fs.acct.Address, 100); err != nil {
				t.Fatal(err)
			}
			url := scheme + "://remote%40example.test@" + fs.via(in, scheme) + "/"
			src := fs.source(url, "remote-pw", true)
			res, err := fs.fetcher(nil).RunOnce(ctx, src)
			if err == nil || !strings.Contains(err.Error(), "quota") || res.Fetched != 0 || res.Deleted != 0 {
				t.Fatalf("run over quota: %+v, %v; want a quota error and nothing done", res, err)
			}
			for _, scope := range []string{"", "INBOX"} { // POP3's, IMAP's
				if ids, _ := fs.st.FetchedIDs(ctx, src.ID, scope); len(ids) != 0 {
					t.Errorf("ids recorded over quota: %+v", ids)
				}
			}
			if n := remoteCount(t, fs, url); n != 2 {
				t.Fatalf("%d messages left on the source, want both", n)
			}
			if err := fs.st.SetQuota(ctx, fs.acct.Address, 0); err != nil {
				t.Fatal(err)
			}
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 2 || res.Deleted != 2 {
				t.Fatalf("run within quota: %+v", res)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2")
		})
	}
}

// crashingDeliverer stores through the real path, then, after the
// message numbered crashAfter, drops the fetcher's connection and fails:
// what a kill -9 right after the local commit leaves (the message stored
// and recorded, its remote deletion not sent or not applied). A batch that
// reaches crashAfter commits the messages up to it and dies with the rest.
type crashingDeliverer struct {
	fs         *fetchSide
	real       fetch.Deliverer
	crashAfter int
	n          int
}

var errCrash = fmt.Errorf("simulated crash after the commit")

func (c *crashingDeliverer) Deliver(ctx context.Context, m delivery.Message) error {
	if err := c.real.Deliver(ctx, m); err != nil {
		return err
	}
	if c.n++; c.n == c.crashAfter {
		c.fs.mu.Lock()
		c.fs.lastRaw.Close()
		c.fs.mu.Unlock()
		return errCrash
	}
	return nil
}

func (c *crashingDeliverer) DeliverBatch(ctx context.Context, ms []delivery.Message) []error {
	errs := make([]error, len(ms))
	take := len(ms)
	if c.n < c.crashAfter {
		take = min(take, c.crashAfter-c.n)
	}
	copy(errs, c.real.DeliverBatch(ctx, ms[:take]))
	if c.n += take; c.n == c.crashAfter {
		c.fs.mu.Lock()
		c.fs.lastRaw.Close()
		c.fs.mu.Unlock()
		for i := take; i < len(ms); i++ {
			errs[i] = errCrash
		}
		if take == len(ms) && len(ms) > 0 {
			errs[len(ms)-1] = errCrash // stored, but the run dies
		}
	}
	return errs
}

// remoteCount is how many messages a fresh keep-source of another local
// account would fetch from url now: what is left on the source.
func remoteCount(t *testing.T, fs *fetchSide, url string) int {
	t.Helper()
	other := newFetchSide(t)
	other.roots, other.hosts = fs.roots, fs.hosts
	src := other.source(url, "remote-pw", false)
	return other.run(other.fetcher(nil), src).Fetched
}

func TestFetchFromPochtaDelete(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"pop3s", "imaps"} {
		t.Run(scheme, func(t *testing.T) {
			fs := newFetchSide(t)
			in := remotePochta(t, fs)
			in.deliver("remote@example.test", fetchMessage(3))
			url := scheme + "://remote%40example.test@" + fs.via(in, scheme) + "/"
			src := fs.source(url, "remote-pw", true)
			// The run dies right after storing message 2: nothing is
			// deleted on the source yet (POP3 applies DELE at QUIT; IMAP
			// got no STORE).
			crash := &crashingDeliverer{fs: fs, real: &delivery.Deliverer{Store: fs.st}, crashAfter: 2}
			if _, err := fs.fetcher(crash).RunOnce(context.Background(), src); err == nil {
				t.Fatal("the crashing run reported success")
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2")
			if n := remoteCount(t, fs, url); n != 3 {
				t.Fatalf("%d messages left on the source after the crash, want all 3", n)
			}
			// The next run fetches only message 3 and deletes all three.
			res := fs.run(fs.fetcher(nil), src)
			if res.Fetched != 1 || res.Deleted != 3 {
				t.Fatalf("run after the crash: %+v, want 1 fetched and 3 deleted", res)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3")
			if n := remoteCount(t, fs, url); n != 0 {
				t.Fatalf("%d messages left on the source, want 0", n)
			}
			// New mail after that: fetched and deleted; nothing else.
			in.deliver("remote@example.test", fetchMessage(4))
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 1 || res.Deleted != 1 {
				t.Fatalf("run with new mail: %+v", res)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3", "message 4")
		})
	}
}

// Failures are reported plainly, recorded on the source, and store
// nothing.
func TestFetchFailures(t *testing.T) {
	t.Parallel()
	fs := newFetchSide(t)
	in := remotePochta(t, fs)
	untrusted := newFetchSide(t) // trusts no certificate
	untrusted.hosts = fs.hosts
	_, plainPort, _ := net.SplitHostPort(in.addrs["pop3"])
	tests := []struct {
		name, url, password string
		side                *fetchSide
		want                string
	}{
		{"pop3s wrong password", "pop3s://remote%40example.test@" + fs.via(in, "pop3s") + "/", "wrong", fs, "login as remote@example.test: remote server refused"},
		{"imaps wrong password", "imaps://remote%40example.test@" + fs.via(in, "imaps") + "/", "wrong", fs, "login as remote@example.test"},
		{"pop3s untrusted certificate", "pop3s://remote%40example.test@" + fs.via(in, "pop3s") + "/", "remote-pw", untrusted, "TLS handshake with mail.example.test:"},
		{"imaps untrusted certificate", "imaps://remote%40example.test@" + fs.via(in, "imaps") + "/", "remote-pw", untrusted, "TLS handshake with mail.example.test:"},
		{"pop3s wrong host name", "pop3s://remote%40example.test@127.0.0.1:" + portOf(in.addrs["pop3s"]) + "/", "remote-pw", fs, "cannot validate certificate for 127.0.0.1"},
		{"nothing listening", "pop3://remote%40example.test@127.0.0.1:" + closedPort(t) + "/?starttls", "remote-pw", fs, "connecting to 127.0.0.1:"},
		{"pop3 starttls", "pop3://remote%40example.test@mail.example.test:" + plainPort + "/?starttls", "wrong", fs, "login as remote@example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.side.source(tt.url, tt.password, true)
			res, err := tt.side.fetcher(nil).RunOnce(context.Background(), src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RunOnce = %+v, %v; want an error containing %q", res, err, tt.want)
			}
			if strings.Contains(err.Error(), tt.password) && tt.password != "" {
				t.Errorf("the error shows the password: %v", err)
			}
			got, _ := tt.side.st.FetchSource(context.Background(), src.ID)
			if got.LastError != err.Error() || got.Failures != 1 {
				t.Errorf("recorded %q (failures %d), want %q", got.LastError, got.Failures, err)
			}
		})
	}
	if n := len(fs.subjects()) + len(untrusted.subjects()); n != 0 {
		t.Errorf("failed runs stored %d messages", n)
	}
}

func portOf(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// closedPort is a loopback port nothing listens on (it was free a moment
// ago).
func closedPort(t *testing.T) string {
	return fmt.Sprint(freePort(t))
}

// A message larger than the limit is left on the source, even by a
// source that deletes, reported once, and not tried again.
func TestFetchTooLarge(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{"pop3s", "imaps"} {
		t.Run(scheme, func(t *testing.T) {
			fs := newFetchSide(t)
			in := remotePochta(t, fs)
			in.deliver("remote@example.test", fetchMessage(3)+strings.Repeat("x", 2000)+"\r\n")
			in.deliver("remote@example.test", fetchMessage(4))
			url := scheme + "://remote%40example.test@" + fs.via(in, scheme) + "/"
			src := fs.source(url, "remote-pw", true)
			f := fs.fetcher(nil)
			f.MaxMessageSize = 1000
			if res := fs.run(f, src); res.Fetched != 3 || res.Skipped != 1 || res.Deleted != 3 {
				t.Fatalf("run: %+v, want 3 fetched, 1 skipped, 3 deleted", res)
			}
			if res := fs.run(f, src); res.Fetched != 0 || res.Skipped != 0 || res.Deleted != 0 {
				t.Fatalf("second run: %+v, want nothing done", res)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 4")
			if n := remoteCount(t, fs, url); n != 1 {
				t.Fatalf("%d messages left on the source, want the large one", n)
			}
		})
	}
}

// switchProxy forwards connections to a backend while up; while down it
// accepts and closes them at once (a source that is away).
type switchProxy struct {
	addr    string
	backend string
	up      atomic.Bool
}

func newSwitchProxy(t *testing.T, backend string) *switchProxy {
	p := &switchProxy{backend: backend}
	p.addr = prototest.ServeLoopback(t, func(c net.Conn) {
		if !p.up.Load() {
			c.Close()
			return
		}
		b, err := net.Dial("tcp", backend)
		if err != nil {
			c.Close()
			return
		}
		go func() { io.Copy(b, c); b.Close() }()
		io.Copy(c, b)
		c.Close()
	})
	return p
}

// Fetcher.Run, as serve runs it: a source that is away fails, is
// recorded and backs off; when it comes back its mail arrives and the
// failures are reset; new mail follows on the interval.
func TestFetchSourceAwayAndBack(t *testing.T) {
	t.Parallel()
	fs := newFetchSide(t)
	in := remotePochta(t, fs)
	p := newSwitchProxy(t, in.addrs["pop3s"])
	fs.hosts["mail.example.test"] = "127.0.0.1"
	src := fs.source("pop3s://remote%40example.test@mail.example.test:"+portOf(p.addr)+"/", "remote-pw", false)
	f := fs.fetcher(nil)
	f.Interval, f.MinInterval, f.MaxBackoff, f.Reload = 20*time.Millisecond, 10*time.Millisecond, 200*time.Millisecond, 20*time.Millisecond
	runFetcher(t, f)
	state := func() store.FetchSource {
		s, err := fs.st.FetchSource(context.Background(), src.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitFor(t, "two failed runs", func() bool { return state().Failures >= 2 })
	if s := state(); !strings.Contains(s.LastError, "TLS handshake with mail.example.test:") || s.Fetched != 0 {
		t.Errorf("source while away: %+v", s)
	}
	p.up.Store(true)
	waitFor(t, "the mail of the source back", func() bool { return len(fs.subjects()) == 2 })
	waitFor(t, "a good run recorded", func() bool { return state().Failures == 0 })
	in.deliver("remote@example.test", fetchMessage(3))
	waitFor(t, "new mail", func() bool { return len(fs.subjects()) == 3 })
	wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3")
	// The run that stored message 3 records itself just after.
	waitFor(t, "the run of message 3 recorded", func() bool { return state().Fetched == 3 })
	if s := state(); s.LastError != "" {
		t.Errorf("source at the end: %+v", s)
	}
}

// The fetcher on the PostgreSQL engine: the fetched id in the delivery's
// transaction holds there too (a run dying after a commit, then a run
// that fetches only what is missing and deletes the rest).
func TestFetchIntoPostgres(t *testing.T) {
	t.Parallel()
	st, err := postgres.Open(context.Background(), pgtest.Database(t), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := newFetchSideOn(t, st)
	in := remotePochta(t, fs)
	in.deliver("remote@example.test", fetchMessage(3))
	url := "imaps://remote%40example.test@" + fs.via(in, "imaps") + "/"
	src := fs.source(url, "remote-pw", true)
	crash := &crashingDeliverer{fs: fs, real: &delivery.Deliverer{Store: fs.st}, crashAfter: 2}
	if _, err := fs.fetcher(crash).RunOnce(context.Background(), src); err == nil {
		t.Fatal("the crashing run reported success")
	}
	if res := fs.run(fs.fetcher(nil), src); res.Fetched != 1 || res.Deleted != 3 {
		t.Fatalf("run after the crash: %+v, want 1 fetched and 3 deleted", res)
	}
	wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3")
}
