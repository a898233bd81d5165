package auth

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Throttle policy. Two free failures cover typos; then the delay doubles
// from one second to a cap that keeps a client's own timeout (usually 30 s
// or more) out of reach, so honest clients still get an answer. A counter
// is forgotten after throttleForget without failures.
const (
	throttleFree      = 2
	throttleFirst     = time.Second
	throttleCap       = 15 * time.Second
	throttleForget    = 15 * time.Minute
	throttleMaxLogins = 50000
	throttleMaxIPs    = 50000
)

// throttle counts recent failed logins per account and per client network.
// Both tables are bounded (at most ~20 MiB for 50,000 logins of up to 255
// bytes, much less for addresses): when full, the entries that failed
// longest ago go first, so an attacker who sprays many names or addresses
// can only push out stale counters.
type throttle struct {
	mu     sync.Mutex
	logins *boundedMap[string, int]
	ips    *boundedMap[netip.Prefix, int]
}

func newThrottle() *throttle {
	return &throttle{
		logins: newBoundedMap[string, int](throttleMaxLogins),
		ips:    newBoundedMap[netip.Prefix, int](throttleMaxIPs),
	}
}

// SharedThrottle is an ability of a store shared by several server nodes
// (the PostgreSQL engine): failure counters every node adds to, so an
// attacker gains nothing by spreading guesses over the nodes. New uses it
// when Options.Directory has it.
type SharedThrottle interface {
	// CountLoginFailures adds one failure to each key's counter and
	// returns the counts; a counter not touched for forget starts again.
	CountLoginFailures(ctx context.Context, keys []string, now time.Time, forget time.Duration) ([]int, error)
	// ResetLoginFailures forgets a key's counter.
	ResetLoginFailures(ctx context.Context, key string) error
}

// sharedTimeout bounds a shared counter's update: a slow store falls back
// to the node's own counters rather than hold the client.
const sharedTimeout = 2 * time.Second

// FailureDelay records a failed login for the login (normalised when
// possible) and for the client's network (the address for IPv4, its /64 for
// IPv6, since one IPv6 host usually owns a whole /64). It returns how long
// to wait before answering: the larger of the account's and the network's
// delays. An invalid ip counts only against the login. With a
// SharedThrottle the counts are the cluster's (the node's own ones are
// kept too, and the larger counts).
func (s *Service) FailureDelay(login string, ip netip.Addr) time.Duration {
	now := s.now()
	key := s.throttleLogin(login)
	t := s.throttle
	t.mu.Lock()
	n := recordFailure(t.logins, key, now)
	keys := []string{"login " + key}
	if p, ok := ipKey(ip); ok {
		n = max(n, recordFailure(t.ips, p, now))
		keys = append(keys, "net "+p.String())
	}
	t.mu.Unlock()
	if s.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		counts, err := s.shared.CountLoginFailures(ctx, keys, now, throttleForget)
		cancel()
		if err != nil {
			s.log.Warn("auth: shared failure counter", "err", err)
		}
		for _, c := range counts {
			n = max(n, c)
		}
	}
	return failureDelay(n)
}

// LoginFailed records a failed login like FailureDelay, then waits out the
// delay before the caller answers the client (or less, if ctx ends first:
// a server shutting down does not hold sessions). It returns the delay, for
// the log. Every protocol server calls it, so they throttle alike.
func (s *Service) LoginFailed(ctx context.Context, login string, ip netip.Addr) time.Duration {
	d := s.FailureDelay(login, ip)
	if d <= 0 {
		return d
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return d
}

// LoginSucceeded resets the account's failure counter. The network's
// counter is left alone: one good password must not let an address go on
// guessing at full speed for other accounts.
func (s *Service) LoginSucceeded(login string, ip netip.Addr) {
	key := s.throttleLogin(login)
	s.throttle.mu.Lock()
	s.throttle.logins.delete(key)
	s.throttle.mu.Unlock()
	if s.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		defer cancel()
		if err := s.shared.ResetLoginFailures(ctx, "login "+key); err != nil {
			s.log.Warn("auth: shared failure counter", "err", err)
		}
	}
}

// throttleLogin maps a login to its counter key: the normalised address, so
// "Bob", "bob@example.com" and "bob+example.com" share one counter; a login
// that does not normalise is counted as typed (it cannot succeed anyway).
func (s *Service) throttleLogin(login string) string {
	if addr, err := s.NormalizeLogin(login); err == nil {
		return addr
	}
	if len(login) > maxLoginLen {
		login = login[:maxLoginLen]
	}
	return login
}

func recordFailure[K comparable](m *boundedMap[K, int], k K, now time.Time) int {
	n, _ := m.get(k, now) // an expired counter reads as 0: forgotten
	n++
	m.put(k, n, now.Add(throttleForget), now)
	return n
}

// failureDelay is 0 for the first throttleFree failures, then 1s, 2s, 4s,
// 8s, capped at 15s.
func failureDelay(failures int) time.Duration {
	if failures <= throttleFree {
		return 0
	}
	d := throttleFirst
	for i := failures - throttleFree - 1; i > 0 && d < throttleCap; i-- {
		d *= 2
	}
	return min(d, throttleCap)
}

func ipKey(ip netip.Addr) (netip.Prefix, bool) {
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}
