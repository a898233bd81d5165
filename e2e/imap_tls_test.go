package e2e_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
)

// curl over IMAP with STARTTLS required (imaplib's STARTTLS and IMAPS and
// curl's imaps:// are in imap_clients_test.go), and STARTTLS itself seen
// from a raw socket: capabilities change, and a command pipelined behind
// STARTTLS in plaintext is never executed inside TLS.
func TestIMAPStartTLS(t *testing.T) {
	in := servedWith(t, "tls@example.test", "tls-pass-123", "imap", "imaps")
	tlsConfig := &tls.Config{InsecureSkipVerify: true, ServerName: "mail.example.test"}

	t.Run("curl", func(t *testing.T) {
		got := curl(t, "-k", "--ssl-reqd", "-u", "tls@example.test:tls-pass-123", "imap://"+in.addrs["imap"]+"/INBOX;UID=1")
		if got != crlf(testMessages[0]) {
			t.Errorf("curl --ssl-reqd imap:// UID 1:\n got %q\nwant %q", trunc(got), trunc(crlf(testMessages[0])))
		}
	})

	t.Run("capabilities", func(t *testing.T) {
		c, err := imaptest.Dial(in.addrs["imap"], imaptest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		res, err := c.MustOK("CAPABILITY")
		if err != nil {
			t.Fatal(err)
		}
		if caps := imaptest.Capabilities(res.Untagged...); !contains(caps, "STARTTLS") {
			t.Fatalf("plain port capabilities lack STARTTLS: %v", caps)
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			t.Fatal(err)
		}
		res, err = c.MustOK("CAPABILITY")
		if err != nil {
			t.Fatal(err)
		}
		if caps := imaptest.Capabilities(res.Untagged...); contains(caps, "STARTTLS") || contains(caps, "LOGINDISABLED") {
			t.Errorf("after STARTTLS (RFC 9051 §6.2.1) capabilities still offer STARTTLS or LOGINDISABLED: %v", caps)
		}
		if res, err := c.Do("STARTTLS"); err != nil || res.Status.Name != "BAD" && res.Status.Name != "NO" {
			t.Errorf("second STARTTLS: %v %v", res, err)
		}
		if err := c.Login("tls@example.test", "tls-pass-123"); err != nil {
			t.Fatal(err)
		}
		res, err = c.MustOK("SELECT INBOX")
		if err != nil || len(res.Named("EXISTS")) != 1 || res.Named("EXISTS")[0].Num != uint32(len(testMessages)) {
			t.Errorf("SELECT over STARTTLS: %v %v", res, err)
		}
	})

	t.Run("no command injection", func(t *testing.T) {
		nc, err := net.Dial("tcp", in.addrs["imap"])
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(15 * time.Second))
		r := bufio.NewReader(nc)
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
			t.Fatalf("greeting %q %v", l, err)
		}
		// One write: STARTTLS and, behind it in plaintext, a command
		// an attacker in the path could have added.
		if _, err := nc.Write([]byte("a1 STARTTLS\r\na2 LOGOUT\r\n")); err != nil {
			t.Fatal(err)
		}
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "a1 OK") {
			t.Fatalf("STARTTLS answered %q %v", l, err)
		}
		if r.Buffered() > 0 {
			t.Fatalf("plaintext after STARTTLS's OK: %q", l)
		}
		tc := tls.Client(nc, tlsConfig)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake after pipelined STARTTLS: %v", err)
		}
		tr := bufio.NewReader(tc)
		if _, err := tc.Write([]byte("a3 NOOP\r\n")); err != nil {
			t.Fatal(err)
		}
		for {
			l, err := tr.ReadString('\n')
			if err != nil {
				t.Fatalf("after TLS: %v (the plaintext a2 LOGOUT may have run)", err)
			}
			if strings.HasPrefix(l, "a2 ") || strings.HasPrefix(l, "* BYE") {
				t.Fatalf("a command sent in plaintext behind STARTTLS ran inside TLS: %q", l)
			}
			if strings.HasPrefix(l, "a3 ") {
				if !strings.HasPrefix(l, "a3 OK") {
					t.Errorf("NOOP inside TLS: %q", l)
				}
				return
			}
		}
	})
}
