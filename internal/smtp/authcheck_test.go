package smtp

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/msgauth"
	"github.com/pochta-mail/pochta/internal/resolver"
)

// authZone publishes sender.test's SPF (the test client's 192.0.2.1),
// DKIM key and a p=reject DMARC policy; spoofed.test has the same policy
// but allows no host.
func authZone(t *testing.T) (*resolver.Static, *msgauth.Signer) {
	t.Helper()
	key, err := msgauth.GenerateKey(filepath.Join(t.TempDir(), "dkim"), "sender.test", "s1", msgauth.AlgoEd25519)
	if err != nil {
		t.Fatal(err)
	}
	z := resolver.NewStatic()
	name, text := key.Record()
	for _, r := range [][3]string{
		{name, "TXT", text},
		{"sender.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all"},
		{"_dmarc.sender.test", "TXT", "v=DMARC1; p=reject"},
		{"spoofed.test", "TXT", "v=spf1 -all"},
		{"_dmarc.spoofed.test", "TXT", "v=DMARC1; p=reject"},
	} {
		if err := z.Add(r[0], r[1], r[2]); err != nil {
			t.Fatal(err)
		}
	}
	return z, msgauth.NewSigner([]msgauth.Key{key})
}

func withChecker(z resolver.Resolver, reject bool) envOptions {
	return envOptions{remote: true, configure: func(s *Server) {
		s.Checker = &msgauth.Checker{Resolver: z, AuthServID: testHost}
		s.DMARCReject = reject
	}}
}

func TestMXAuthenticationResults(t *testing.T) {
	z, signer := authZone(t)
	e := newEnv(t, withChecker(z, true))
	msg := "From: news@sender.test\r\nTo: alice@example.org\r\nSubject: signed\r\n\r\nhello\r\n"
	sig, err := signer.Sign(context.Background(), strings.NewReader(msg))
	if err != nil || sig == "" {
		t.Fatalf("Sign = %q, %v", sig, err)
	}
	if err := send(e.dial(ModeMX), "news@sender.test", []string{"alice@example.org"}, sig+msg); err != nil {
		t.Fatal(err)
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != 1 {
		t.Fatalf("inbox has %d messages", len(inbox))
	}
	for _, want := range []string{"Authentication-Results: " + testHost + ";", "spf=pass smtp.mailfrom=news@sender.test",
		"dkim=pass header.d=sender.test", "dmarc=pass header.from=sender.test", "\r\n\r\nhello\r\n"} {
		if !strings.Contains(inbox[0], want) {
			t.Errorf("stored message lacks %q:\n%s", want, inbox[0])
		}
	}
}

func TestMXDMARCReject(t *testing.T) {
	z, _ := authZone(t)
	msg := "From: ceo@spoofed.test\r\nTo: alice@example.org\r\nSubject: wire money\r\n\r\nnow\r\n"
	e := newEnv(t, withChecker(z, true))
	err := send(e.dial(ModeMX), "ceo@spoofed.test", []string{"alice@example.org"}, msg)
	wantCode(t, "DATA failing DMARC p=reject", err, 550, "5.7.1")
	if n := len(e.inbox("alice@example.org")); n != 0 {
		t.Errorf("rejected message stored (%d)", n)
	}
	// Without smtp.dmarc_reject the message is kept, marked as failing.
	e = newEnv(t, withChecker(z, false))
	if err := send(e.dial(ModeMX), "ceo@spoofed.test", []string{"alice@example.org"}, msg); err != nil {
		t.Fatal(err)
	}
	if in := e.inbox("alice@example.org"); len(in) != 1 || !strings.Contains(in[0], "dmarc=fail") || !strings.Contains(in[0], "spf=fail") {
		t.Errorf("want the message kept with dmarc=fail: %q", in)
	}
}

func TestMXLargeMessageSpooledAndChecked(t *testing.T) {
	z, _ := authZone(t)
	e := newEnv(t, withChecker(z, true))
	body := strings.Repeat(strings.Repeat("x", 998)+"\r\n", 2000) // ~2 MB: spooled to a file
	msg := "From: big@sender.test\r\nSubject: big\r\n\r\n" + body
	if err := send(e.dial(ModeMX), "big@sender.test", []string{"alice@example.org"}, msg); err != nil {
		t.Fatal(err)
	}
	in := e.inbox("alice@example.org")
	if len(in) != 1 || !strings.HasSuffix(in[0], body) || !strings.Contains(in[0], "dkim=none") || !strings.Contains(in[0], "dmarc=pass") {
		t.Errorf("large message not stored whole with its results (len %d)", len(in[0]))
	}
}

func TestSubmissionNotChecked(t *testing.T) {
	z, _ := authZone(t)
	e := newEnv(t, envOptions{configure: func(s *Server) {
		s.Checker = &msgauth.Checker{Resolver: z, AuthServID: testHost}
		s.DMARCReject = true
	}})
	c := e.submit("alice@example.org")
	if err := send(c, "alice@example.org", []string{"bob@example.org"}, "From: alice@example.org\r\n\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if in := e.inbox("bob@example.org"); len(in) != 1 || strings.Contains(in[0], "Authentication-Results") {
		t.Errorf("submitted mail was checked: %q", in)
	}
}

func TestMXDropsForgedResults(t *testing.T) {
	z, _ := authZone(t)
	e := newEnv(t, withChecker(z, false))
	msg := "Authentication-Results: " + testHost + "; dkim=pass\r\n header.d=bank.test\r\n" +
		"Authentication-Results: other.example; spf=pass\r\n" +
		"From: x@sender.test\r\nSubject: forged results\r\n\r\nbody\r\nAuthentication-Results: " + testHost + "; in the body\r\n"
	if err := send(e.dial(ModeMX), "x@sender.test", []string{"alice@example.org"}, msg); err != nil {
		t.Fatal(err)
	}
	in := e.inbox("alice@example.org")
	if len(in) != 1 {
		t.Fatalf("inbox %q", in)
	}
	m := in[0]
	if strings.Contains(m, "bank.test") || strings.Count(m, "Authentication-Results: "+testHost) != 2 {
		t.Errorf("forged field kept, or ours missing:\n%s", m)
	}
	for _, want := range []string{"Authentication-Results: other.example; spf=pass\r\n", "\r\n\r\nbody\r\nAuthentication-Results: " + testHost + "; in the body\r\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("lost %q:\n%s", want, m)
		}
	}
}

// TestMXSpoolsKeptApart: the in-memory spools are reused from message to
// message; deliveries at once over several connections must each store
// their own text, whole, whatever sizes came before.
func TestMXSpoolsKeptApart(t *testing.T) {
	z, _ := authZone(t)
	e := newEnv(t, withChecker(z, true))
	const conns, each = 4, 6
	errs := make(chan error, conns)
	want := map[string]bool{}
	for c := range conns {
		var msgs []string
		for i := range each {
			// Sizes from 60 octets to 300 KB (past what a reused buffer
			// keeps), so buffers of every size go round.
			line := fmt.Sprintf("conn %d message %d %s\r\n", c, i, strings.Repeat("y", 40))
			msg := fmt.Sprintf("From: c%d@sender.test\r\nSubject: %d/%d\r\n\r\n", c, c, i) +
				strings.Repeat(line, 1+(c*each+i)%5*(1+c*2000))
			msgs = append(msgs, msg)
			want[msg] = true
		}
		go func() {
			for _, msg := range msgs {
				if err := send(e.dial(ModeMX), "c@sender.test", []string{"alice@example.org"}, msg); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	inbox := e.inbox("alice@example.org")
	if len(inbox) != conns*each {
		t.Fatalf("inbox has %d messages, want %d", len(inbox), conns*each)
	}
	for _, stored := range inbox {
		// What follows our Authentication-Results field is the message sent.
		_, sent, ok := strings.Cut(stored, "\r\nFrom: ")
		if !ok || !want["From: "+sent] {
			t.Errorf("stored message is none of those sent (%d octets): %.200q", len(stored), stored)
		}
		delete(want, "From: "+sent)
	}
}

// TestSpoolHeldUntilClosed: a spool's buffer goes back to the pool only
// at Close; one still open is never handed to the next message.
func TestSpoolHeldUntilClosed(t *testing.T) {
	for range 20 {
		a := strings.Repeat("first message\r\n", 100)
		spA, err := spool(strings.NewReader(a))
		if err != nil {
			t.Fatal(err)
		}
		spB, err := spool(strings.NewReader(strings.Repeat("second\r\n", 300)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(spA)
		if err != nil || string(got) != a {
			t.Fatalf("first spool reads %.60q (%v), want its own message", got, err)
		}
		spB.Close()
		spA.Close()
		spA.Close() // twice is harmless
	}
}
