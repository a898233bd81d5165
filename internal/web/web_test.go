package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/metrics"
	"github.com/pochta-mail/pochta/internal/mtasts"
	"github.com/pochta-mail/pochta/internal/server"
	"github.com/pochta-mail/pochta/internal/tlsutil/tlstest"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// fixture is the HTTP side on loopback through internal/server, as serve
// runs it.
type fixture struct {
	srv     *server.Server
	metrics *metrics.Metrics
	caFile  string
	client  *http.Client // trusts the test certificate
	ready   error        // what the "test" readiness check returns
}

func (f *fixture) addr(name string) string { return f.srv.Addr(name).String() }

func (f *fixture) port(name string) string {
	_, p, _ := net.SplitHostPort(f.addr(name))
	return p
}

var testServices = Services{
	IMAP:       []Endpoint{{Port: 993, Security: Implicit}, {Port: 143, Security: StartTLS}},
	POP3:       []Endpoint{{Port: 995, Security: Implicit}, {Port: 0, Security: StartTLS}},
	Submission: []Endpoint{{Port: 465, Security: Implicit}, {Port: 587, Security: StartTLS}},
}

func newFixture(t *testing.T, maxConns int) *fixture {
	t.Helper()
	serverTLS, clientTLS, certPEM := tlstest.Multi(t, "mail.example.test", "example.test",
		"autoconfig.example.test", "autodiscover.example.test", "mta-sts.example.test", "mta-sts.other.test")
	f := &fixture{metrics: metrics.New()}
	f.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(f.caFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	site := &Site{
		Hostname: "mail.example.test",
		IsDomain: func(_ context.Context, d string) (bool, error) {
			if d == "broken.test" {
				return false, errors.New("database is locked")
			}
			return d == "example.test" || d == "xn--e1afmkfd.test", nil
		},
		MTASTS: mtasts.Policy{Mode: mtasts.ModeEnforce, MX: []string{"mail.example.test"}, MaxAge: 7 * 24 * time.Hour},
	}
	site.SetServices(testServices)
	public := NewServer(site.Handler(), nil)
	ops := NewServer((&Ops{Metrics: f.metrics.Handler(), Checks: []Check{
		{Name: "store", Func: func(context.Context) error { return nil }},
		{Name: "test", Func: func(context.Context) error { return f.ready }},
	}}).Handler(), nil)
	f.srv = &server.Server{
		TLSConfig:      serverTLS,
		MaxConnections: maxConns,
		Observer:       f.metrics,
		Listeners: []server.Listener{
			{Name: "http", Key: "http.listen", Addr: "127.0.0.1:0", Handler: public, Refusal: Refusal},
			{Name: "https", Key: "https.listen", Addr: "127.0.0.1:0", TLS: server.TLSImplicit, Handler: public},
			{Name: "metrics", Key: "metrics.listen", Addr: "127.0.0.1:0", Handler: ops, Refusal: Refusal},
		},
	}
	if err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.srv.Shutdown(ctx)
		public.Close()
		ops.Close()
		if n := f.srv.Panics(); n > 0 {
			t.Errorf("%d handler panics", n)
		}
	})
	// The client dials every name to the listener its scheme names, like
	// DNS pointing autoconfig.DOMAIN, DOMAIN and mta-sts.DOMAIN here.
	tr := &http.Transport{TLSClientConfig: clientTLS}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		if net.ParseIP(host) != nil {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		target := f.addr("http")
		if port == "443" {
			target = f.addr("https")
		}
		return (&net.Dialer{}).DialContext(ctx, network, target)
	}
	f.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return f
}

func (f *fixture) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := f.client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// curl fetches url as a client on the network would, the names resolving
// to this machine: -f fails on an HTTP error, --cacert trusts the test
// certificate (Thunderbird refuses an untrusted one).
func (f *fixture) curl(t *testing.T, url string, extra ...string) (string, error) {
	t.Helper()
	prototest.NeedProgram(t, "curl", "curl")
	args := []string{"-sS", "-f", "--max-time", "10", "--cacert", f.caFile}
	// The URL's default port becomes the listener's; the name stays, so
	// SNI and Host are what a client sends.
	for _, host := range []string{"example.test", "autoconfig.example.test", "mta-sts.example.test"} {
		args = append(args, "--resolve", host+":"+f.port("https")+":127.0.0.1", "--resolve", host+":"+f.port("http")+":127.0.0.1")
	}
	args = append(args, extra...)
	args = append(args, f.portURL(url))
	out, err := exec.Command("curl", args...).CombinedOutput()
	if err != nil {
		return string(out), err
	}
	return string(out), nil
}

// portURL puts the listener's real port into a default-port URL.
func (f *fixture) portURL(url string) string {
	scheme, rest, _ := strings.Cut(url, "://")
	host, path, _ := strings.Cut(rest, "/")
	name := "http"
	if scheme == "https" {
		name = "https"
	}
	return scheme + "://" + host + ":" + f.port(name) + "/" + path
}

// acConfig mirrors Thunderbird's config-v1.1.xml, every field the client
// reads for an email provider.
type acConfig struct {
	XMLName  xml.Name `xml:"clientConfig"`
	Version  string   `xml:"version,attr"`
	Provider struct {
		ID               string     `xml:"id,attr"`
		Domains          []string   `xml:"domain"`
		DisplayName      string     `xml:"displayName"`
		DisplayShortName string     `xml:"displayShortName"`
		Incoming         []acServer `xml:"incomingServer"`
		Outgoing         []acServer `xml:"outgoingServer"`
	} `xml:"emailProvider"`
}

// checkAutoconfig validates a config-v1.1.xml document against the
// format's rules: required elements present, enumerated values from
// their sets.
func checkAutoconfig(t *testing.T, doc string) acConfig {
	t.Helper()
	var c acConfig
	if err := xml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatalf("autoconfig is not XML: %v\n%s", err, doc)
	}
	if c.Version != "1.1" || c.Provider.ID == "" || len(c.Provider.Domains) == 0 || c.Provider.DisplayName == "" {
		t.Fatalf("autoconfig lacks version/id/domain/displayName:\n%s", doc)
	}
	socket := map[string]bool{"plain": true, "SSL": true, "STARTTLS": true}
	auth := map[string]bool{"password-cleartext": true, "password-encrypted": true, "NTLM": true, "GSSAPI": true,
		"client-IP-address": true, "TLS-client-cert": true, "OAuth2": true, "none": true}
	check := func(s acServer, types ...string) {
		if !strings.Contains(strings.Join(types, " "), s.Type) || s.Hostname == "" || s.Port < 1 || s.Port > 65535 ||
			!socket[s.SocketType] || !auth[s.Authentication] || s.Username == "" {
			t.Errorf("invalid server entry %+v", s)
		}
	}
	if len(c.Provider.Incoming) == 0 || len(c.Provider.Outgoing) == 0 {
		t.Fatalf("autoconfig without incoming or outgoing server:\n%s", doc)
	}
	for _, s := range c.Provider.Incoming {
		check(s, "imap", "pop3")
	}
	for _, s := range c.Provider.Outgoing {
		check(s, "smtp")
	}
	return c
}

// TestAutoconfigThunderbirdOrder fetches the configuration the way
// Thunderbird looks for it (docs/CLIENTS.md): HTTPS on autoconfig.DOMAIN,
// then the .well-known path on DOMAIN, then the same two over plain HTTP.
// Each URL must answer by itself.
func TestAutoconfigThunderbirdOrder(t *testing.T) {
	f := newFixture(t, 0)
	q := "?emailaddress=alice%40example.test"
	for _, url := range []string{
		"https://autoconfig.example.test/mail/config-v1.1.xml" + q,
		"https://example.test/.well-known/autoconfig/mail/config-v1.1.xml" + q,
		"http://autoconfig.example.test/mail/config-v1.1.xml" + q,
		"http://example.test/.well-known/autoconfig/mail/config-v1.1.xml" + q,
		"http://autoconfig.example.test/mail/config-v1.1.xml", // no address: the Host names the domain
	} {
		out, err := f.curl(t, url)
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", url, err, out)
		}
		c := checkAutoconfig(t, out)
		in := c.Provider.Incoming
		if c.Provider.Domains[0] != "example.test" || in[0].Type != "imap" || in[0].Port != 993 || in[0].SocketType != "SSL" ||
			in[0].Hostname != "mail.example.test" || in[0].Username != "%EMAILADDRESS%" {
			t.Fatalf("%s: first incoming server %+v", url, in[0])
		}
		// Disabled services (port 0) are not offered.
		for _, s := range in {
			if s.Port == 0 {
				t.Fatalf("%s offers a disabled service: %+v", url, s)
			}
		}
		if len(in) != 3 || len(c.Provider.Outgoing) != 2 || c.Provider.Outgoing[1].SocketType != "STARTTLS" {
			t.Fatalf("%s: servers %+v / %+v", url, in, c.Provider.Outgoing)
		}
	}
	// An internationalized domain is looked up by its A-labels.
	if code, body := f.get(t, "http://autoconfig.example.test/mail/config-v1.1.xml?emailaddress=ivan%40%D0%BF%D1%80%D0%B8%D0%BC%D0%B5%D1%80.test"); code != 200 ||
		!strings.Contains(body, "<domain>xn--e1afmkfd.test</domain>") {
		t.Fatalf("IDN address: %d\n%s", code, body)
	}
	// A domain the server does not handle is not configured.
	if code, _ := f.get(t, "http://autoconfig.other.test/mail/config-v1.1.xml?emailaddress=bob%40other.test"); code != 404 {
		t.Fatalf("other domain: status %d, want 404", code)
	}
	// A failing directory is a temporary error, not a 404 the client caches.
	if code, _ := f.get(t, "http://autoconfig.broken.test/mail/config-v1.1.xml"); code != 503 {
		t.Fatalf("broken lookup: status %d, want 503", code)
	}
}

const adRequestBody = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>Alice@Example.TEST</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`

func TestAutodiscoverPOX(t *testing.T) {
	f := newFixture(t, 0)
	for _, path := range []string{"/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"} {
		resp, err := f.client.Post("https://autodiscover.example.test"+path, "text/xml", strings.NewReader(adRequestBody))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, body)
		}
		var r struct {
			XMLName  xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006 Autodiscover"`
			Response struct {
				XMLName xml.Name `xml:"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a Response"`
				Account struct {
					AccountType string       `xml:"AccountType"`
					Action      string       `xml:"Action"`
					Protocol    []adProtocol `xml:"Protocol"`
				} `xml:"Account"`
			} `xml:"Response"`
		}
		if err := xml.Unmarshal(body, &r); err != nil {
			t.Fatalf("response: %v\n%s", err, body)
		}
		a := r.Response.Account
		if a.AccountType != "email" || a.Action != "settings" || len(a.Protocol) != 3 {
			t.Fatalf("account %+v", a)
		}
		want := map[string]adProtocol{
			"IMAP": {Type: "IMAP", Server: "mail.example.test", Port: 993, LoginName: "alice@example.test", SPA: "off", Encryption: "SSL", AuthRequired: "on"},
			"POP3": {Type: "POP3", Server: "mail.example.test", Port: 995, LoginName: "alice@example.test", SPA: "off", Encryption: "SSL", AuthRequired: "on"},
			"SMTP": {Type: "SMTP", Server: "mail.example.test", Port: 465, LoginName: "alice@example.test", SPA: "off", Encryption: "SSL", AuthRequired: "on"},
		}
		for _, p := range a.Protocol {
			if p != want[p.Type] {
				t.Errorf("protocol %+v, want %+v", p, want[p.Type])
			}
		}
	}
	for name, body := range map[string]string{
		"not XML":    "hello",
		"no address": `<Autodiscover><Request></Request></Autodiscover>`,
		"too large":  `<Autodiscover><Request><EMailAddress>` + strings.Repeat("a", maxAutodiscoverRequest) + `@example.test</EMailAddress></Request></Autodiscover>`,
	} {
		resp, err := f.client.Post("http://autodiscover.example.test/autodiscover/autodiscover.xml", "text/xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
	resp, err := f.client.Post("http://autodiscover.example.test/autodiscover/autodiscover.xml", "text/xml",
		strings.NewReader(strings.ReplaceAll(adRequestBody, "Example.TEST", "other.test")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("other domain: status %d, want 404", resp.StatusCode)
	}
}

// TestMobileconfigPlist parses the profile with Python's plistlib, the
// same XML plist grammar Apple's parser reads.
func TestMobileconfigPlist(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	f := newFixture(t, 0)
	code, body := f.get(t, "https://example.test/mail.mobileconfig?emailaddress=alice%40example.test")
	if code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	cmd := exec.Command("python3", "-c", "import json, plistlib, sys; json.dump(plistlib.loads(sys.stdin.buffer.read()), sys.stdout)")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("plistlib: %v\n%s\n%s", err, out, body)
	}
	var p struct {
		PayloadType    string
		PayloadUUID    string
		PayloadVersion int
		PayloadContent []map[string]any
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if p.PayloadType != "Configuration" || p.PayloadVersion != 1 || len(p.PayloadUUID) != 36 || len(p.PayloadContent) != 1 {
		t.Fatalf("profile %+v", p)
	}
	mail := p.PayloadContent[0]
	for k, v := range map[string]any{
		"PayloadType": "com.apple.mail.managed", "EmailAddress": "alice@example.test", "EmailAccountType": "EmailTypeIMAP",
		"IncomingMailServerHostName": "mail.example.test", "IncomingMailServerPortNumber": 993.0, "IncomingMailServerUseSSL": true,
		"OutgoingMailServerPortNumber": 465.0, "OutgoingMailServerUseSSL": true, "IncomingMailServerUsername": "alice@example.test",
		"OutgoingPasswordSameAsIncomingPassword": true,
	} {
		if mail[k] != v {
			t.Errorf("%s = %v, want %v", k, mail[k], v)
		}
	}
	// The same address gets the same identifiers: a second download
	// replaces the installed profile.
	_, again := f.get(t, "https://example.test/mail.mobileconfig?emailaddress=alice%40example.test")
	if again != body {
		t.Error("profile differs between two downloads")
	}
	if code, _ := f.get(t, "https://example.test/mail.mobileconfig?emailaddress=<script>"); code != 400 {
		t.Errorf("bad address: status %d, want 400", code)
	}
}

func TestMTASTSPolicyPublished(t *testing.T) {
	f := newFixture(t, 0)
	out, err := f.curl(t, "https://mta-sts.example.test/.well-known/mta-sts.txt")
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	p, err := mtasts.Parse(out)
	if err != nil {
		t.Fatalf("%v\n%q", err, out)
	}
	if p.Mode != mtasts.ModeEnforce || len(p.MX) != 1 || !p.Matches("mail.example.test") || p.MaxAge != 7*24*time.Hour {
		t.Fatalf("policy %+v", p)
	}
	if !strings.HasSuffix(out, "\r\n") {
		t.Errorf("policy lines not CRLF-terminated: %q", out)
	}
	for _, url := range []string{"https://example.test/.well-known/mta-sts.txt", "https://mta-sts.other.test/.well-known/mta-sts.txt"} {
		if code, _ := f.get(t, url); code != 404 {
			t.Errorf("%s: status %d, want 404", url, code)
		}
	}
}

func TestOpsHealthAndMetrics(t *testing.T) {
	f := newFixture(t, 0)
	base := "http://" + f.addr("metrics")
	if code, body := f.get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, body := f.get(t, base+"/readyz"); code != 200 || !strings.Contains(body, "store: ok") {
		t.Fatalf("readyz: %d %q", code, body)
	}
	f.ready = errors.New("listeners down")
	if code, body := f.get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "test: not ready: listeners down") {
		t.Fatalf("readyz failing: %d %q", code, body)
	}
	f.get(t, "http://autoconfig.example.test/mail/config-v1.1.xml")
	_, body := f.get(t, base+"/metrics")
	for _, want := range []string{`pochta_connections_total{listener="http"} `, `pochta_connections_total{listener="metrics"} `,
		"go_goroutines ", `pochta_connections_active{listener="metrics"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestConnectionLimitAndShutdown: the HTTP side obeys the server's
// connection limit (a polite 503) and an idle keep-alive connection does
// not hold up a graceful shutdown.
func TestConnectionLimitAndShutdown(t *testing.T) {
	f := newFixture(t, 1)
	held, err := net.Dial("tcp", f.addr("http"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// A first request proves the held connection is admitted.
	held.Write([]byte("GET /healthz HTTP/1.1\r\nHost: autoconfig.example.test\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(held), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	refused, err := net.Dial("tcp", f.addr("http"))
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(refused)
	if !bytes.HasPrefix(got, []byte("HTTP/1.1 503 ")) {
		t.Fatalf("over the limit: got %q", got)
	}
	// Shutdown ends the idle keep-alive connection at once.
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v after %v", err, time.Since(start))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil {
		t.Fatal("held connection still open after shutdown")
	}
}
