package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// scrape returns the metrics page of a running serve.
func scrape(t *testing.T, s *serving) string {
	t.Helper()
	resp, err := http.Get("http://" + s.addr("metrics") + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// metricValue finds one sample ("name{labels}") in a metrics page; -1 when
// absent.
func metricValue(page, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func pop3Login(t *testing.T, addr, user, pass string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	line := func() string {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("pop3: %v", err)
		}
		return l
	}
	line()
	fmt.Fprintf(c, "USER %s\r\n", user)
	line()
	fmt.Fprintf(c, "PASS %s\r\n", pass)
	reply := line()
	fmt.Fprintf(c, "QUIT\r\n")
	line()
	return reply
}

// imapSession sends each command and waits for its tagged reply (the
// first word of the command is its tag).
func imapSession(t *testing.T, addr string, cmds ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range cmds {
		fmt.Fprintf(c, "%s\r\n", cmd)
		tag := strings.Fields(cmd)[0] + " "
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if strings.HasPrefix(l, tag) {
				break
			}
		}
	}
}

// TestServeMetricsUnderLoad runs a mixed load (POP3 logins that succeed
// and fail, SMTP deliveries, an HTTP fetch) against the real binary and
// checks the scraped counters moved by exactly that much.
func TestServeMetricsUnderLoad(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	zone := filepath.Join(t.TempDir(), "empty.zone")
	if err := os.WriteFile(zone, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := serve(t, dir, "dns.zone_file="+zone)
	before := scrape(t, s)
	if v := metricValue(before, `pochta_messages_received_total{source="smtp"}`); v > 0 {
		t.Fatalf("received before any mail: %v", v)
	}
	const logins, fails, mails = 3, 2, 4
	for range logins {
		if r := pop3Login(t, s.addr("pop3"), "alice@example.test", "pw"); !strings.HasPrefix(r, "+OK") {
			t.Fatalf("login: %q", r)
		}
	}
	for range fails {
		if r := pop3Login(t, s.addr("pop3"), "alice@example.test", "wrong"); !strings.HasPrefix(r, "-ERR") {
			t.Fatalf("bad login: %q", r)
		}
	}
	for i := range mails {
		c, err := smtp.Dial(s.addr("smtp"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("sender@remote.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("alice@example.test"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "From: sender@remote.test\r\nSubject: %d\r\n\r\nhello\r\n", i)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.Quit()
	}
	// One SASL PLAIN login on submission (plaintext allowed from loopback).
	sub, err := smtp.Dial(s.addr("submission"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Auth(smtp.PlainAuth("", "alice@example.test", "pw", "127.0.0.1")); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	sub.Quit()
	resp, err := http.Get("http://" + s.addr("http") + "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	imapSession(t, s.addr("imap"), "a LOGIN alice@example.test pw", "b SELECT INBOX",
		"c UID FETCH 1:* (FLAGS)", "d BOGUS", "e LOGOUT")

	// Sessions record some values as they end, just after the client's
	// last reply: scrape until everything is in (bounded), then compare.
	want := map[string]float64{
		`pochta_logins_total{mechanism="password",proto="pop3",result="ok"}`:      logins,
		`pochta_logins_total{mechanism="password",proto="pop3",result="failed"}`:  fails,
		`pochta_logins_total{mechanism="plain",proto="smtp",result="ok"}`:         1,
		`pochta_connections_total{listener="pop3"}`:                               logins + fails,
		`pochta_connections_total{listener="smtp"}`:                               mails,
		`pochta_connections_total{listener="submission"}`:                         1,
		`pochta_connections_total{listener="http"}`:                               1,
		`pochta_messages_received_total{source="smtp"}`:                           mails,
		`pochta_store_commit_duration_seconds_count`:                              mails,
		`pochta_auth_throttle_delay_seconds_count`:                                fails,
		`pochta_message_auth_results_total{method="spf",result="none"}`:           mails,
		`pochta_message_auth_results_total{method="dkim",result="none"}`:          mails,
		`pochta_queue_messages`:                                                   0,
		`pochta_command_duration_seconds_count{command="USER",proto="pop3"}`:      logins + fails,
		`pochta_command_duration_seconds_count{command="PASS",proto="pop3"}`:      logins + fails,
		`pochta_command_duration_seconds_count{command="QUIT",proto="pop3"}`:      logins + fails,
		`pochta_command_duration_seconds_count{command="MAIL",proto="smtp"}`:      mails,
		`pochta_command_duration_seconds_count{command="RCPT",proto="smtp"}`:      mails,
		`pochta_command_duration_seconds_count{command="DATA",proto="smtp"}`:      mails,
		`pochta_command_duration_seconds_count{command="LOGIN",proto="imap"}`:     1,
		`pochta_command_duration_seconds_count{command="SELECT",proto="imap"}`:    1,
		`pochta_command_duration_seconds_count{command="UID FETCH",proto="imap"}`: 1,
		`pochta_command_duration_seconds_count{command="unknown",proto="imap"}`:   1,
		`pochta_command_duration_seconds_count{command="LOGOUT",proto="imap"}`:    1,
		`pochta_connections_active{listener="pop3"}`:                              0,
		`pochta_connections_active{listener="smtp"}`:                              0,
	}
	var after string
	var wrong []string
	for range 100 {
		after, wrong = scrape(t, s), nil
		for series, v := range want {
			if got := metricValue(after, series); got != v {
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", series, got, v))
			}
		}
		// Bytes sent are added when a session ends, so they are waited
		// for like the rest.
		for _, proto := range []string{"pop3", "smtp", "imap"} {
			if v := metricValue(after, `pochta_bytes_sent_total{proto="`+proto+`"}`); v < 100 {
				wrong = append(wrong, fmt.Sprintf("%s bytes sent %v, want >= 100", proto, v))
			}
		}
		if len(wrong) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, w := range wrong {
		t.Error(w)
	}
	if metricValue(after, "go_goroutines") <= 0 || metricValue(after, "process_resident_memory_bytes") <= 0 {
		t.Error("Go runtime and process metrics missing")
	}
	resp, err = http.Get("http://" + s.addr("metrics") + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "listeners: ok") {
		t.Fatalf("readyz: %d %s", resp.StatusCode, body)
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	// The logins were written at shutdown: user list shows when.
	out := must(t, "", "-d", dir, "user", "list")
	if !regexp.MustCompile(`(?m)^alice@example\.test used=\S+ quota=none last_login=20\d\d-\d\d-\d\dT\S+Z$`).MatchString(out) {
		t.Fatalf("user list after logins:\n%s", out)
	}
}

// TestServeAutoconfigAnnouncesBoundPorts: the autoconfig a client gets
// from a running server names the ports its listeners really have.
func TestServeAutoconfigAnnouncesBoundPorts(t *testing.T) {
	t.Parallel()
	prototest.NeedProgram(t, "curl", "curl")
	dir := newMailDir(t)
	s := serve(t, dir)
	_, port, _ := net.SplitHostPort(s.addr("http"))
	out, err := exec.Command("curl", "-sS", "-f", "--max-time", "10",
		"--resolve", "autoconfig.example.test:"+port+":127.0.0.1",
		"http://autoconfig.example.test:"+port+"/mail/config-v1.1.xml?emailaddress=alice%40example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	var cc struct {
		Incoming []struct {
			Type       string `xml:"type,attr"`
			Port       int    `xml:"port"`
			SocketType string `xml:"socketType"`
		} `xml:"emailProvider>incomingServer"`
	}
	if err := xml.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	_, imaps, _ := net.SplitHostPort(s.addr("imaps"))
	if len(cc.Incoming) == 0 || cc.Incoming[0].Type != "imap" || strconv.Itoa(cc.Incoming[0].Port) != imaps || cc.Incoming[0].SocketType != "SSL" {
		t.Fatalf("first incoming server %+v, want imaps on %s\n%s", cc.Incoming, imaps, out)
	}
}

// TestDNSWebRecords: pochta dns prints the records the HTTP side needs,
// and the _mta-sts id changes when the published policy does.
func TestDNSWebRecords(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	out := must(t, "", "-d", dir, "dns", "example.test")
	for _, want := range []string{
		"autoconfig.example.test. CNAME mail.example.test.",
		"autodiscover.example.test. CNAME mail.example.test.",
		"_autodiscover._tcp.example.test. SRV 0 1 443 mail.example.test.",
		"mta-sts.example.test. CNAME mail.example.test.",
		`_mta-sts.example.test. TXT "v=STSv1; id=`,
		`_smtp._tls.example.test. TXT "v=TLSRPTv1; rua=mailto:postmaster@example.test"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pochta dns lacks %q:\n%s", want, out)
		}
	}
	id := regexp.MustCompile(`id=(\w+)`).FindStringSubmatch(out)
	setConfig(t, dir, "mta_sts", "mode", `"enforce"`)
	again := must(t, "", "-d", dir, "dns", "example.test")
	id2 := regexp.MustCompile(`id=(\w+)`).FindStringSubmatch(again)
	if id == nil || id2 == nil || id[1] == id2[1] {
		t.Errorf("policy id did not change with the mode: %v %v", id, id2)
	}
}

// TestServeWithACMEUnreachableCA: with tls.acme the server starts without
// certificate files, every TLS listener up, and says why it has no
// certificate yet when the CA cannot be reached. (Issuance and renewal
// against a real ACME server are tested in internal/tlsutil with Pebble.)
func TestServeWithACMEUnreachableCA(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	os.Remove(filepath.Join(dir, "cert.pem"))
	os.Remove(filepath.Join(dir, "key.pem"))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ca := "https://" + closed.Addr().String() + "/dir"
	closed.Close()
	s := serve(t, dir, "tls.acme=true", "tls.acme_directory="+ca)
	for _, name := range []string{"https", "imaps", "pop3s", "submissions"} {
		if s.addr(name) == "" {
			t.Errorf("%s not listening", name)
		}
	}
	eventually(t, "the CA failure logged", func() bool {
		return strings.Contains(s.logText(), "acme: could not get a certificate for the hostname yet")
	})
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
}
