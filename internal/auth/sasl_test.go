package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

// step is one client response and what the server must answer.
type step struct {
	resp      []byte // nil = no initial response
	challenge string
	done      bool
	err       error
}

// exchangeSteps runs steps against a new session of mech and checks each
// answer; it returns the session.
func exchangeSteps(t *testing.T, s *Service, mech string, steps ...step) SASLSession {
	t.Helper()
	sess, err := s.NewSASL(t.Context(), mech, "mail.example.org")
	if err != nil {
		t.Fatalf("NewSASL(%s): %v", mech, err)
	}
	for i, st := range steps {
		ch, done, err := sess.Next(st.resp)
		if (st.err == nil) != (err == nil) || (st.err != nil && !errors.Is(err, st.err)) {
			t.Fatalf("%s step %d (%q): err = %v, want %v", mech, i, st.resp, err, st.err)
		}
		if err == nil && (string(ch) != st.challenge || done != st.done) {
			t.Fatalf("%s step %d (%q): challenge %q done %v, want %q %v", mech, i, st.resp, ch, done, st.challenge, st.done)
		}
	}
	return sess
}

func TestMechanisms(t *testing.T) {
	modern := newFixture(t, Options{})
	legacy := newFixture(t, Options{Legacy: true})
	for _, c := range []struct {
		s    *Service
		tls  bool
		want []string
	}{
		{modern.s, true, []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}},
		{modern.s, false, []string{"SCRAM-SHA-256"}},
		{legacy.s, true, []string{"PLAIN", "LOGIN", "SCRAM-SHA-256", "CRAM-MD5"}},
		{legacy.s, false, []string{"SCRAM-SHA-256", "CRAM-MD5"}},
	} {
		if got := c.s.Mechanisms(c.tls); !slices.Equal(got, c.want) {
			t.Errorf("Mechanisms(%v) = %v, want %v", c.tls, got, c.want)
		}
		for _, m := range c.s.Mechanisms(true) {
			if _, err := c.s.NewSASL(t.Context(), strings.ToLower(m), "h"); err != nil {
				t.Errorf("NewSASL(%q): %v", strings.ToLower(m), err)
			}
		}
	}
	for _, m := range []string{"CRAM-MD5", "DIGEST-MD5", "SCRAM-SHA-256-PLUS", "XOAUTH2", ""} {
		if _, err := modern.s.NewSASL(t.Context(), m, "h"); !errors.Is(err, ErrUnknownMechanism) {
			t.Errorf("NewSASL(%q) = %v, want ErrUnknownMechanism", m, err)
		}
	}
}

func TestPLAIN(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.addAccount(t, "alice@example.org", "pw", false)
	f.addAccount(t, "bob@example.org", "pw", false)
	creds := []byte("\x00alice\x00pw")

	sess := exchangeSteps(t, f.s, "PLAIN", step{resp: nil, challenge: ""}, step{resp: creds, done: true})
	if sess.Account().ID != alice.ID {
		t.Errorf("Account() = %+v", sess.Account())
	}
	if _, _, err := sess.Next(nil); err == nil {
		t.Error("Next after done succeeded")
	}
	exchangeSteps(t, f.s, "plain", step{resp: creds, done: true}) // initial response
	exchangeSteps(t, f.s, "PLAIN", step{resp: []byte("alice\x00alice\x00pw"), done: true})
	exchangeSteps(t, f.s, "PLAIN", step{resp: []byte("Alice@Example.org\x00alice\x00pw"), done: true})

	for _, bad := range []string{
		"\x00alice\x00wrong",
		"bob\x00alice\x00pw", // acting as someone else is not supported
		"\x00nobody\x00pw",
		"\x00alice\x00pw\x00",
		"alice\x00pw",
		"\x00\x00pw",
		"\x00alice\x00",
		"",
	} {
		sess := exchangeSteps(t, f.s, "PLAIN", step{resp: []byte(bad), err: ErrFailed})
		if _, _, err := sess.Next([]byte("\x00alice\x00pw")); err == nil {
			t.Errorf("PLAIN %q: exchange went on after failure", bad)
		}
	}
	exchangeSteps(t, f.s, "PLAIN", step{resp: []byte(strings.Repeat("a", maxSASLResponse+1)), err: ErrFailed})
}

func TestLOGIN(t *testing.T) {
	f := newFixture(t, Options{})
	alice := f.addAccount(t, "alice@example.org", "pw", false)
	sess := exchangeSteps(t, f.s, "LOGIN",
		step{resp: nil, challenge: "Username:"},
		step{resp: []byte("alice@example.org"), challenge: "Password:"},
		step{resp: []byte("pw"), done: true})
	if sess.Account().ID != alice.ID {
		t.Errorf("Account() = %+v", sess.Account())
	}
	exchangeSteps(t, f.s, "LOGIN", // username as initial response
		step{resp: []byte("alice"), challenge: "Password:"},
		step{resp: []byte("pw"), done: true})
	exchangeSteps(t, f.s, "LOGIN",
		step{resp: nil, challenge: "Username:"},
		step{resp: []byte("alice"), challenge: "Password:"},
		step{resp: []byte("wrong"), err: ErrFailed})
	exchangeSteps(t, f.s, "LOGIN",
		step{resp: []byte("nobody"), challenge: "Password:"},
		step{resp: []byte("pw"), err: ErrFailed})
	exchangeSteps(t, f.s, "LOGIN",
		step{resp: nil, challenge: "Username:"},
		step{resp: []byte{}, err: ErrFailed})
	exchangeSteps(t, f.s, "LOGIN",
		step{resp: []byte("alice"), challenge: "Password:"},
		step{resp: []byte{}, err: ErrFailed})
}

// RFC 2195 §2 example.
func TestCRAMDigestVector(t *testing.T) {
	got := hex.EncodeToString(cramDigest("tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>"))
	if got != "b913a602c7eda7a495b4e6e7334d3890" {
		t.Errorf("digest = %s", got)
	}
}

func TestCRAMMD5(t *testing.T) {
	f := newFixture(t, Options{Legacy: true})
	tim := f.addAccount(t, "tim@example.org", "tanstaaftanstaaf", true)
	f.addAccount(t, "modern@example.org", "tanstaaftanstaaf", false)

	start := func() (SASLSession, string) {
		t.Helper()
		sess, err := f.s.NewSASL(t.Context(), "CRAM-MD5", "mail.example.org")
		if err != nil {
			t.Fatal(err)
		}
		ch, done, err := sess.Next(nil)
		if err != nil || done || !strings.HasPrefix(string(ch), "<") || !strings.HasSuffix(string(ch), "@mail.example.org>") {
			t.Fatalf("challenge %q, %v, %v", ch, done, err)
		}
		return sess, string(ch)
	}
	sess, ch := start()
	if _, ch2 := start(); ch2 == ch {
		t.Errorf("two challenges are equal: %q", ch)
	}
	resp := "tim " + strings.ToUpper(hex.EncodeToString(cramDigest("tanstaaftanstaaf", ch)))
	if _, done, err := sess.Next([]byte(resp)); !done || err != nil {
		t.Fatalf("right digest: done %v err %v", done, err)
	}
	if sess.Account().ID != tim.ID {
		t.Errorf("Account() = %+v", sess.Account())
	}

	for _, c := range []struct{ user, secret string }{
		{"tim", "wrong"},
		{"modern", "tanstaaftanstaaf"}, // no legacy secret
		{"nobody", "tanstaaftanstaaf"},
	} {
		sess, ch := start()
		resp := c.user + " " + hex.EncodeToString(cramDigest(c.secret, ch))
		if _, _, err := sess.Next([]byte(resp)); err != ErrFailed {
			t.Errorf("%s/%s: %v, want ErrFailed", c.user, c.secret, err)
		}
	}
	for _, bad := range []string{"", "tim", "tim ", " b913a602c7eda7a495b4e6e7334d3890"} {
		sess, _ := start()
		if _, _, err := sess.Next([]byte(bad)); err != ErrFailed {
			t.Errorf("%q: %v, want ErrFailed", bad, err)
		}
	}
	// CRAM-MD5 has no initial response.
	exchangeSteps(t, f.s, "CRAM-MD5", step{resp: []byte("tim 00"), err: ErrFailed})
}

func TestSASLCancelled(t *testing.T) {
	f := newFixture(t, Options{Legacy: true})
	f.addAccount(t, "alice@example.org", "pw", true)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range []struct {
		mech  string
		steps [][]byte
	}{
		{"PLAIN", [][]byte{[]byte("\x00alice\x00pw")}},
		{"LOGIN", [][]byte{[]byte("alice"), []byte("pw")}},
		{"SCRAM-SHA-256", [][]byte{[]byte("n,,n=alice,r=abc")}},
		{"CRAM-MD5", [][]byte{nil, []byte("alice 00")}},
	} {
		sess, err := f.s.NewSASL(ctx, c.mech, "h")
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for _, r := range c.steps {
			_, _, last = sess.Next(r)
		}
		if !errors.Is(last, context.Canceled) || errors.Is(last, ErrFailed) {
			t.Errorf("%s with cancelled context: %v, want context.Canceled", c.mech, last)
		}
	}
}

// TestSASLLogin checks that a failed exchange still names the account the
// client tried, so protocol servers throttle it per account.
func TestSASLLogin(t *testing.T) {
	f := newFixture(t, Options{Legacy: true})
	f.addAccount(t, "alice@example.org", "pw", true)
	for _, c := range []struct {
		mech  string
		steps []step
	}{
		{"PLAIN", []step{{resp: []byte("\x00alice@example.org\x00wrong"), err: ErrFailed}}},
		{"LOGIN", []step{{resp: []byte("alice@example.org"), challenge: "Password:"}, {resp: []byte("wrong"), err: ErrFailed}}},
		{"CRAM-MD5", nil},
		{"SCRAM-SHA-256", []step{{resp: []byte("n,,n=alice@example.org,r=abcdefgh")}}},
	} {
		var sess SASLSession
		switch c.mech {
		case "CRAM-MD5":
			sess = exchangeSteps(t, f.s, c.mech)
			sess.Next(nil)
			if _, _, err := sess.Next([]byte("alice@example.org 00112233445566778899aabbccddeeff")); !errors.Is(err, ErrFailed) {
				t.Fatalf("CRAM-MD5 with a wrong digest: %v", err)
			}
		case "SCRAM-SHA-256":
			sess = exchangeSteps(t, f.s, c.mech)
			if _, _, err := sess.Next(c.steps[0].resp); err != nil {
				t.Fatalf("SCRAM client-first: %v", err)
			}
		default:
			sess = exchangeSteps(t, f.s, c.mech, c.steps...)
		}
		if got := sess.Login(); got != "alice@example.org" {
			t.Errorf("%s: Login() = %q, want the claimed identity", c.mech, got)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  error
	}{
		{"=", "", nil},
		{"", "", nil},
		{"AGFsaWNlAHNlY3JldA==", "\x00alice\x00secret", nil},
		{"not base64!", "", ErrBadBase64},
		{"YQ", "", ErrBadBase64}, // unpadded
	} {
		got, err := DecodeResponse(tc.in)
		if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
			t.Errorf("DecodeResponse(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if err == nil && got == nil {
			t.Errorf("DecodeResponse(%q) = nil, want an empty, non-nil response", tc.in)
		}
	}
}
