package mtasts

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

// policyServer is https://mta-sts.remote.test on loopback, answering what
// handler says and counting fetches.
type policyServer struct {
	srv     *httptest.Server
	roots   *x509.CertPool
	fetches atomic.Int32
}

func newPolicyServer(t *testing.T, handler http.HandlerFunc) *policyServer {
	t.Helper()
	serverTLS, clientTLS, _ := tlstest.Multi(t, "mta-sts.remote.test")
	p := &policyServer{roots: clientTLS.RootCAs}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Host != "mta-sts.remote.test:"+p.port() {
			http.NotFound(w, r)
			return
		}
		handler(w, r)
	}))
	p.srv.TLS = serverTLS
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

func (p *policyServer) port() string {
	return strconv.Itoa(p.srv.Listener.Addr().(*net.TCPAddr).Port)
}

func serveText(text string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(text))
	}
}

const enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.test\r\nmax_age: 86400\r\n"

func zone(t *testing.T, records ...[3]string) *resolver.Static {
	t.Helper()
	z := resolver.NewStatic()
	z.Add("mta-sts.remote.test", "A", "127.0.0.1")
	for _, r := range records {
		if err := z.Add(r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
	return z
}

func fetcher(p *policyServer, z *resolver.Static, now *time.Time) *Fetcher {
	port, _ := strconv.Atoi(p.port())
	return &Fetcher{Resolver: z, RootCAs: p.roots, Port: port, Now: func() time.Time { return *now }}
}

func TestFetchAndCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPolicyServer(t, serveText(enforcePolicy))
	f := fetcher(p, zone(t, [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=20260101"`}), &now)
	pol := f.Policy(ctx, "Remote.TEST")
	if pol == nil || pol.Mode != ModeEnforce || !pol.Matches("mx.remote.test") {
		t.Fatalf("policy %+v", pol)
	}
	if c := f.Cached("remote.test"); c == nil || c.Mode != ModeEnforce {
		t.Fatalf("cached %+v", c)
	}
	// Same id: no new fetch, even once the TXT is looked up again.
	now = now.Add(2 * txtRecheck)
	f.Policy(ctx, "remote.test")
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches with an unchanged id, want 1", n)
	}
	// The policy server going away does not lift a cached policy: an
	// attacker blocking HTTPS cannot downgrade.
	p.srv.Close()
	f.Resolver = zone(t, [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=changed"`})
	now = now.Add(2 * txtRecheck)
	if pol := f.Policy(ctx, "remote.test"); pol == nil || pol.Mode != ModeEnforce {
		t.Fatalf("cached policy dropped when the refetch failed: %+v", pol)
	}
	// Past max_age with nothing fetchable: no policy.
	now = now.Add(25 * time.Hour)
	if pol := f.Policy(ctx, "remote.test"); pol != nil {
		t.Fatalf("expired policy still applied: %+v", pol)
	}
}

func TestIDChangeRefetches(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	var text atomic.Value
	text.Store(enforcePolicy)
	p := newPolicyServer(t, func(w http.ResponseWriter, r *http.Request) { serveText(text.Load().(string))(w, r) })
	f := fetcher(p, zone(t, [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=1"`}), &now)
	f.Policy(ctx, "remote.test")
	text.Store("version: STSv1\nmode: testing\nmx: mx.remote.test\nmax_age: 86400\n")
	f.Resolver = zone(t, [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=2"`})
	now = now.Add(2 * txtRecheck)
	if pol := f.Policy(ctx, "remote.test"); pol == nil || pol.Mode != ModeTesting || p.fetches.Load() != 2 {
		t.Fatalf("after an id change: %+v, %d fetches", pol, p.fetches.Load())
	}
}

// TestNoPolicy: each way a domain ends up without an enforceable policy.
func TestNoPolicy(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	cases := map[string]struct {
		txt     string
		handler http.HandlerFunc
	}{
		"no TXT record": {"", serveText(enforcePolicy)},
		"TXT not STSv1": {`"v=spf1 -all"`, serveText(enforcePolicy)},
		"mode none":     {`"v=STSv1; id=1"`, serveText("version: STSv1\nmode: none\nmax_age: 86400\n")},
		"404":           {`"v=STSv1; id=1"`, http.NotFound},
		"wrong type": {`"v=STSv1; id=1"`, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(enforcePolicy))
		}},
		"redirect": {`"v=STSv1; id=1"`, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.test/", http.StatusFound)
		}},
		"invalid policy":   {`"v=STSv1; id=1"`, serveText("version: STSv1\nmode: enforce\n")},
		"bad id in record": {`"v=STSv1; id=not-alnum!"`, serveText(enforcePolicy)},
	}
	for name, tc := range cases {
		p := newPolicyServer(t, tc.handler)
		var records [][3]string
		if tc.txt != "" {
			records = append(records, [3]string{"_mta-sts.remote.test", "TXT", tc.txt})
		}
		f := fetcher(p, zone(t, records...), &now)
		if pol := f.Policy(ctx, "remote.test"); pol != nil {
			t.Errorf("%s: got policy %+v, want none", name, pol)
		}
	}
	// A certificate not valid for mta-sts.DOMAIN: no policy (and no
	// fetch accepted).
	p := newPolicyServer(t, serveText(enforcePolicy))
	f := fetcher(p, zone(t, [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=1"`}), &now)
	f.RootCAs = x509.NewCertPool()
	if pol := f.Policy(ctx, "remote.test"); pol != nil {
		t.Errorf("untrusted policy host: got %+v", pol)
	}
}

// FetchFailed hears of every failed fetch, with the error kinds TLS
// reporting tells apart: a server error, an invalid file (wrapping
// ErrInvalidPolicy), a certificate that does not verify.
func TestFetchFailedHook(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	txt := [3]string{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=1"`}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		trusted bool
		check   func(error) bool
	}{
		{"404", http.NotFound, true, func(err error) bool { return !errors.Is(err, ErrInvalidPolicy) }},
		{"not a policy", serveText("hello"), true, func(err error) bool { return errors.Is(err, ErrInvalidPolicy) }},
		{"untrusted certificate", serveText(enforcePolicy), false, func(err error) bool {
			var ua x509.UnknownAuthorityError
			return errors.As(err, &ua)
		}},
	} {
		p := newPolicyServer(t, tc.handler)
		f := fetcher(p, zone(t, txt), &now)
		if !tc.trusted {
			f.RootCAs = x509.NewCertPool()
		}
		var got []error
		f.FetchFailed = func(domain string, cached *Policy, err error) {
			if domain != "remote.test" || cached != nil {
				t.Errorf("%s: hook(%q, %+v)", tc.name, domain, cached)
			}
			got = append(got, err)
		}
		if pol := f.Policy(ctx, "remote.test"); pol != nil {
			t.Errorf("%s: policy %+v", tc.name, pol)
		}
		if len(got) != 1 || !tc.check(got[0]) {
			t.Errorf("%s: hook called with %v", tc.name, got)
		}
	}
}
