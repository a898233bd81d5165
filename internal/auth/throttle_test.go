package auth

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestFailureDelayProgression(t *testing.T) {
	f := newFixture(t, Options{})
	ip := netip.MustParseAddr("192.0.2.1")
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i, w := range want {
		if got := f.s.FailureDelay("alice", ip); got != w {
			t.Errorf("failure %d: delay %v, want %v", i+1, got, w)
		}
		f.clock.Advance(time.Minute)
	}
}

func TestFailureDelayDecays(t *testing.T) {
	f := newFixture(t, Options{})
	ip := netip.MustParseAddr("192.0.2.1")
	for range 4 {
		f.s.FailureDelay("alice", ip)
	}
	f.clock.Advance(throttleForget - time.Second)
	if got := f.s.FailureDelay("alice", ip); got != 4*time.Second {
		t.Errorf("within the window: %v, want 4s", got)
	}
	// Each failure restarts the window; a quiet window forgets.
	f.clock.Advance(throttleForget)
	if got := f.s.FailureDelay("alice", ip); got != 0 {
		t.Errorf("after a quiet window: %v, want 0", got)
	}
}

func TestFailureDelayPerAccountAndNetwork(t *testing.T) {
	f := newFixture(t, Options{Separators: "+"})
	// One account attacked from many addresses: the account's counter
	// grows, whatever spelling of the login is used.
	for i, login := range []string{"alice", "Alice@example.org", "ALICE+example.org"} {
		f.s.FailureDelay(login, netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if got := f.s.FailureDelay("alice", netip.MustParseAddr("198.51.100.99")); got != 2*time.Second {
		t.Errorf("4th failure of one account from four IPs: %v, want 2s", got)
	}
	// One IPv6 /64 spraying many accounts: the network's counter grows.
	for i := range 3 {
		ip := netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))
		f.s.FailureDelay(fmt.Sprintf("user%d", i), ip)
	}
	if got := f.s.FailureDelay("user9", netip.MustParseAddr("2001:db8:1:2:ffff::1")); got != 2*time.Second {
		t.Errorf("4th failure from one /64: %v, want 2s", got)
	}
	if got := f.s.FailureDelay("user10", netip.MustParseAddr("2001:db8:1:3::1")); got != 0 {
		t.Errorf("first failure from the next /64: %v, want 0", got)
	}
	// IPv4-mapped IPv6 counts as the IPv4 address.
	f.s.FailureDelay("x1", netip.MustParseAddr("203.0.113.5"))
	f.s.FailureDelay("x2", netip.MustParseAddr("::ffff:203.0.113.5"))
	if got := f.s.FailureDelay("x3", netip.MustParseAddr("203.0.113.5")); got != time.Second {
		t.Errorf("mapped address: %v, want 1s", got)
	}
	// An invalid address counts only against the login.
	if got := f.s.FailureDelay("y", netip.Addr{}); got != 0 {
		t.Errorf("invalid address: %v", got)
	}
}

func TestLoginSucceededResetsAccountOnly(t *testing.T) {
	f := newFixture(t, Options{})
	ip := netip.MustParseAddr("192.0.2.7")
	for range 4 {
		f.s.FailureDelay("alice", ip)
	}
	f.s.LoginSucceeded("Alice@Example.org", ip)
	if got := f.s.FailureDelay("alice", netip.MustParseAddr("192.0.2.8")); got != 0 {
		t.Errorf("account after success: %v, want 0", got)
	}
	if got := f.s.FailureDelay("bob", ip); got != 4*time.Second {
		t.Errorf("IP after success: %v, want 4s (its 5th failure)", got)
	}
}

func TestThrottleIsBounded(t *testing.T) {
	f := newFixture(t, Options{})
	for i := range throttleMaxLogins + 100 {
		f.s.FailureDelay(fmt.Sprintf("user%d", i), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := f.s.throttle.logins.len(); n != throttleMaxLogins {
		t.Errorf("login table: %d entries, want %d", n, throttleMaxLogins)
	}
	if n := f.s.throttle.ips.len(); n != throttleMaxIPs {
		t.Errorf("IP table: %d entries, want %d", n, throttleMaxIPs)
	}
	// Expired entries are dropped as new ones arrive.
	f.clock.Advance(throttleForget)
	f.s.FailureDelay("fresh", netip.MustParseAddr("192.0.2.1"))
	if n := f.s.throttle.logins.len(); n != 1 {
		t.Errorf("login table after expiry: %d entries, want 1", n)
	}
}

// TestLoginFailed checks that LoginFailed counts like FailureDelay and that
// a cancelled context cuts its wait short (the test would hang otherwise:
// the third failure waits a second, the ones after longer).
func TestLoginFailed(t *testing.T) {
	f := newFixture(t, Options{})
	ip := netip.MustParseAddr("192.0.2.7")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for i, want := range []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second} {
		if got := f.s.LoginFailed(ctx, "alice", ip); got != want {
			t.Errorf("failure %d: LoginFailed = %v, want %v", i+1, got, want)
		}
	}
	if got := f.s.FailureDelay("alice", ip); got != 8*time.Second {
		t.Errorf("after five LoginFailed calls the next delay is %v, want 8s", got)
	}
}
