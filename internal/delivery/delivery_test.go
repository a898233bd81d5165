package delivery

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// fixture is a real SQLite store with two domains, accounts and aliases.
type fixture struct {
	st    *sqlite.Store
	r     *Resolver
	accts map[string]store.Account
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{st: st, r: &Resolver{Dir: st, Delimiters: "+"}, accts: map[string]store.Account{}}
	for _, d := range []string{"example.org", "catch.example"} {
		if err := st.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"alice@example.org", "bob@example.org", "carol@catch.example", "x+y@example.org"} {
		acct, err := st.CreateAccount(ctx, a, store.Credentials{PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		f.accts[a] = acct
	}
	aliases := map[string][]string{
		"team@example.org":   {"alice@example.org", "bob@example.org", "friend@remote.example"},
		"chain@example.org":  {"team@example.org", "alice@example.org"},
		"loop1@example.org":  {"loop2@example.org"},
		"loop2@example.org":  {"loop1@example.org"},
		"broken@example.org": {"nobody@example.org"},
		"@catch.example":     {"carol@catch.example"},
	}
	for a, ts := range aliases {
		if err := st.AddAlias(ctx, a, ts); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) names(res Resolution) []string {
	var out []string
	for _, a := range res.Accounts {
		out = append(out, a.Address)
	}
	slices.Sort(out)
	return out
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		addr   string
		local  []string
		remote []string
		err    error
	}{
		{"alice@example.org", []string{"alice@example.org"}, nil, nil},
		{"ALICE@Example.ORG", []string{"alice@example.org"}, nil, nil},
		{"alice+lists@example.org", []string{"alice@example.org"}, nil, nil},
		{"alice+a+b@example.org", []string{"alice@example.org"}, nil, nil},
		// An account whose name contains the delimiter wins over the split.
		{"x+y@example.org", []string{"x+y@example.org"}, nil, nil},
		{"team@example.org", []string{"alice@example.org", "bob@example.org"}, []string{"friend@remote.example"}, nil},
		{"team+tag@example.org", []string{"alice@example.org", "bob@example.org"}, []string{"friend@remote.example"}, nil},
		// Reached twice: one copy.
		{"chain@example.org", []string{"alice@example.org", "bob@example.org"}, []string{"friend@remote.example"}, nil},
		{"anything@catch.example", []string{"carol@catch.example"}, nil, nil},
		{"nobody@example.org", nil, nil, ErrUnknownUser},
		{"+tag@example.org", nil, nil, ErrUnknownUser},
		{"someone@remote.example", nil, nil, ErrNotLocal},
		{"loop1@example.org", nil, nil, ErrAliasLoop},
		{"broken@example.org", nil, nil, ErrUnknownUser},
		{"no-at-sign", nil, nil, ErrBadAddress},
		{"a@b@example.org", nil, nil, ErrBadAddress},
		{"a b@example.org", nil, nil, ErrBadAddress},
		{"@example.org", nil, nil, ErrBadAddress},
	}
	for _, tt := range tests {
		res, err := f.r.Resolve(ctx, tt.addr)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Resolve(%q) error = %v, want %v", tt.addr, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.addr, err)
			continue
		}
		if got := f.names(res); !slices.Equal(got, tt.local) || !slices.Equal(res.Remote, tt.remote) {
			t.Errorf("Resolve(%q) = %q + remote %q, want %q + %q", tt.addr, got, res.Remote, tt.local, tt.remote)
		}
	}
	// Plus-addressing off: the tag is part of the name.
	off := &Resolver{Dir: f.st}
	if _, err := off.Resolve(ctx, "alice+lists@example.org"); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("without delimiters, alice+lists: %v, want ErrUnknownUser", err)
	}
}

func TestOwns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice, carol := f.accts["alice@example.org"], f.accts["carol@catch.example"]
	for _, tt := range []struct {
		acct store.Account
		addr string
		want bool
	}{
		{alice, "alice@example.org", true},
		{alice, "Alice+x@example.org", true},
		{alice, "team@example.org", true},
		{alice, "bob@example.org", false},
		{alice, "friend@remote.example", false},
		{carol, "carol@catch.example", true},
		// The catch-all does not let its owner send as anyone.
		{carol, "ceo@catch.example", false},
	} {
		got, err := f.r.Owns(ctx, tt.acct, tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("Owns(%s, %q) = %v, %v; want %v", tt.acct.Address, tt.addr, got, err, tt.want)
		}
	}
}

func TestDeliverTraceAndQueue(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	d := &Deliverer{Store: f.st, Hostname: "mx.example.org"}
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := &Trace{Helo: "client.example", ESMTP: true, AuthUser: "alice@example.org", ID: "ABC", Time: when}
	err := d.Deliver(ctx, Message{
		From: "alice@example.org", Local: []store.Account{f.accts["bob@example.org"]},
		Remote:     []store.QueueRecipient{{Address: "friend@remote.example"}},
		ReturnPath: true, Trace: tr, Body: strings.NewReader("Subject: hi\n\nbody\n"), DSNEnvelopeID: "E1",
	})
	if err != nil {
		t.Fatal(err)
	}
	received := "Received: from client.example ([unknown])\r\n\t(Authenticated sender: alice@example.org)\r\n" +
		"\tby mx.example.org (Pochta) with ESMTPA id ABC;\r\n\tThu, 02 Jan 2025 03:04:05 +0000\r\n"
	want := "Return-Path: <alice@example.org>\r\n" + received + "Subject: hi\r\n\r\nbody\r\n"
	if got := storetest.Bodies(t, f.st, f.accts["bob@example.org"].ID); len(got) != 1 || got[0] != want {
		t.Errorf("local copy = %q, want %q", got, want)
	}
	q, err := f.st.QueuedMessages(ctx)
	if err != nil || len(q) != 1 || q[0].Envelope.DSNEnvelopeID != "E1" {
		t.Fatalf("queue = %+v, %v", q, err)
	}
	r, _ := f.st.QueuedBody(ctx, q[0].ID)
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != received+"Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("queued copy = %q: want no Return-Path", b)
	}
}

func TestDeliverQuota(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.st.SetQuota(ctx, "bob@example.org", 10); err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Store: f.st, Hostname: "mx"}
	err := d.Deliver(ctx, Message{Local: []store.Account{f.accts["bob@example.org"]},
		Body: strings.NewReader("more than ten octets\r\n")})
	if !errors.Is(err, ErrOverQuota) || !errors.Is(err, store.ErrQuota) {
		t.Errorf("over quota: %v", err)
	}
	bob, _ := f.st.Account(ctx, "bob@example.org")
	if err := CheckQuota(bob, 11); !errors.Is(err, ErrOverQuota) {
		t.Errorf("CheckQuota(11 of 10): %v", err)
	}
	if err := CheckQuota(bob, 10); err != nil {
		t.Errorf("CheckQuota(10 of 10): %v", err)
	}
}

func TestTraceHeader(t *testing.T) {
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		tr   Trace
		with string
	}{
		{Trace{}, "SMTP"},
		{Trace{ESMTP: true}, "ESMTP"},
		{Trace{ESMTP: true, AuthUser: "u"}, "ESMTPA"},
		{Trace{ESMTP: true, SMTPUTF8: true}, "UTF8SMTP"},
	} {
		tt.tr.Time = when
		if got := tt.tr.Protocol(); got != tt.with {
			t.Errorf("Protocol(%+v) = %s, want %s", tt.tr, got, tt.with)
		}
	}
	// A hostile HELO cannot inject header lines or close the comment.
	tr := Trace{Helo: "evil\r\nX-Injected: yes (", AuthUser: "a) (b\r\nc", For: "x\r\ny@z", Time: when}
	h := tr.Header("mx")
	checkHeader(t, h)
}

// checkHeader asserts h is one folded Received field: lines end in CRLF,
// continuation lines start with a tab, no stray CR or LF, parentheses
// balance, every line is short.
func checkHeader(t *testing.T, h string) {
	t.Helper()
	if !strings.HasPrefix(h, "Received: ") || !strings.HasSuffix(h, "\r\n") {
		t.Fatalf("not a Received field: %q", h)
	}
	lines := strings.Split(strings.TrimSuffix(h, "\r\n"), "\r\n")
	depth := 0
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") || len(l) > 998 {
			t.Errorf("line %d: %q", i, l)
		}
		if i > 0 && !strings.HasPrefix(l, "\t") {
			t.Errorf("continuation line %d does not start with a tab: %q", i, l)
		}
		for _, c := range l {
			switch c {
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth < 0 || depth > 1 {
				t.Errorf("unbalanced comment in %q", h)
				return
			}
		}
	}
	if depth != 0 {
		t.Errorf("unbalanced comment in %q", h)
	}
}
