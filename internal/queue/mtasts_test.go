package queue

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"
)

// withSTS publishes an MTA-STS policy for remote.test: a loopback HTTPS
// server as https://mta-sts.remote.test and the _mta-sts TXT record in the
// fixture's static resolver; the worker fetches and enforces it.
func withSTS(t *testing.T, f *fixture, policy string) {
	t.Helper()
	serverTLS, clientTLS, _ := tlstest.Multi(t, "mta-sts.remote.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte(policy))
	}))
	srv.TLS = serverTLS
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, r := range [][3]string{
		{"_mta-sts.remote.test", "TXT", `"v=STSv1; id=1"`},
		{"mta-sts.remote.test", "A", "127.0.0.1"},
	} {
		if err := f.res.Add(r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
	f.w.MTASTS = &mtasts.Fetcher{Resolver: f.res, RootCAs: clientTLS.RootCAs, Port: srv.Listener.Addr().(*net.TCPAddr).Port}
}

const (
	stsEnforce = "version: STSv1\nmode: enforce\nmx: mx.remote.test\nmax_age: 86400\n"
	stsTesting = "version: STSv1\nmode: testing\nmx: mx.remote.test\nmax_age: 86400\n"
)

// deferredWith waits for the message's first deferred attempt and returns
// its last error.
func deferredWith(t *testing.T, f *fixture) string {
	t.Helper()
	waitFor(t, "a deferred attempt", func() bool {
		m, err := f.st.QueuedMessages(context.Background())
		return err == nil && len(m) == 1 && m[0].Attempts >= 1
	})
	m, _ := f.st.QueuedMessages(context.Background())
	return m[0].LastError
}

// TestMTASTSRefusesInsecureMX: enforce mode defers instead of sending
// when the MX offers no STARTTLS (as when an attacker strips it) or a
// certificate no CA vouches for (an interceptor's).
func TestMTASTSRefusesInsecureMX(t *testing.T) {
	for _, tc := range []struct {
		name    string
		withTLS bool
		want    string
	}{
		{"no STARTTLS", false, "4.7.4"},
		{"unverified certificate", true, "4.7.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSink(t, tc.withTLS)
			f := newFixture(t, s)
			withSTS(t, f, stsEnforce)
			f.submit(t, "alice@a.test", "bob@remote.test")
			f.start(t)
			if e := deferredWith(t, f); !strings.Contains(e, tc.want) || len(s.messages()) != 0 {
				t.Fatalf("last error %q, sink got %d messages; want %s and nothing sent", e, len(s.messages()), tc.want)
			}
		})
	}
}

// TestMTASTSDeliversOverVerifiedTLS: with a valid certificate the mail
// goes, over TLS.
func TestMTASTSDeliversOverVerifiedTLS(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	f.w.RootCAs = sinkRoots(t, s)
	withSTS(t, f, stsEnforce)
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if len(s.tls) != 1 || !s.tls[0] {
		t.Fatalf("sessions over TLS: %v", s.tls)
	}
}

// TestMTASTSRefusesUnlistedMX: an MX the policy does not list (a spoofed
// MX record) is never contacted.
func TestMTASTSRefusesUnlistedMX(t *testing.T) {
	s := newSink(t, true)
	f := newFixture(t, s)
	f.w.RootCAs = sinkRoots(t, s)
	withSTS(t, f, strings.Replace(stsEnforce, "mx.remote.test", "*.elsewhere.test", 1))
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	if e := deferredWith(t, f); !strings.Contains(e, "matches its MTA-STS policy") {
		t.Fatalf("last error %q", e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != 0 {
		t.Fatalf("the unlisted MX was contacted %d times", s.conns)
	}
}

// TestMTASTSTestingModeDelivers: testing mode reports but never blocks.
func TestMTASTSTestingModeDelivers(t *testing.T) {
	s := newSink(t, false)
	f := newFixture(t, s)
	withSTS(t, f, stsTesting)
	f.submit(t, "alice@a.test", "bob@remote.test")
	f.start(t)
	waitFor(t, "the queue to empty", func() bool { return f.queueLen(t) == 0 })
	if n := s.count("bob@remote.test"); n != 1 {
		t.Fatalf("delivered %d copies, want 1", n)
	}
}
