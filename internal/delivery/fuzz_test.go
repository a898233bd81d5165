package delivery

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzTraceHeader: whatever the client sends as HELO, login or recipient,
// the Received field stays one well-formed field.
func FuzzTraceHeader(f *testing.F) {
	f.Add("client.example", "user@example.org", "rcpt@example.org", true)
	f.Add("evil\r\nX: y", "a) (b", "x\ny", false)
	f.Add("[192.0.2.1]", "", "", true)
	f.Fuzz(func(t *testing.T, helo, user, rcpt string, esmtp bool) {
		tr := Trace{Helo: helo, AuthUser: user, For: rcpt, ESMTP: esmtp,
			RemoteIP: netip.MustParseAddr("2001:db8::1"), ID: "X", Time: time.Unix(0, 0)}
		checkHeader(t, tr.Header(helo))
		rp := ReturnPath(rcpt)
		if strings.Count(rp, "\r\n") != 1 || !strings.HasSuffix(rp, ">\r\n") || strings.ContainsAny(strings.TrimSuffix(rp, "\r\n"), "\r\n") {
			t.Errorf("ReturnPath(%q) = %q", rcpt, rp)
		}
	})
}

// FuzzResolve: resolution of any address against a real store either
// succeeds with at least one destination or fails with one of the
// documented errors; it never panics.
func FuzzResolve(f *testing.F) {
	fx := newFixture(f)
	for _, s := range []string{"alice@example.org", "alice+x@example.org", "team@example.org", "a@catch.example",
		"loop1@example.org", "x@remote.example", "@", "a@", "\x00@example.org", "alice++@EXAMPLE.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		res, err := fx.r.Resolve(context.Background(), addr)
		switch {
		case err == nil:
			if len(res.Accounts)+len(res.Remote) == 0 {
				t.Errorf("Resolve(%q) succeeded with no destination", addr)
			}
		case errors.Is(err, ErrBadAddress), errors.Is(err, ErrNotLocal), errors.Is(err, ErrUnknownUser), errors.Is(err, ErrAliasLoop):
		default:
			t.Errorf("Resolve(%q): unexpected error %v", addr, err)
		}
	})
}
