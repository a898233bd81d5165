package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resolver is the DNS the Fetcher needs (internal/resolver.Resolver has
// it): the _mta-sts TXT record and the policy host's addresses.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Limits of one fetch and of the cache.
const (
	fetchTimeout = 20 * time.Second // section 3.3 suggests a minute at most
	txtRecheck   = time.Minute      // a TXT answer is reused this long within busy delivery
	maxCached    = 10000            // domains kept; the oldest fetched is dropped first
)

// Fetcher finds, fetches and caches remote domains' MTA-STS policies
// (RFC 8461 sections 3 and 5) for the outbound queue. The zero value is
// not usable: set Resolver.
type Fetcher struct {
	Resolver Resolver
	// RootCAs verify the policy host's certificate; nil = the system's.
	RootCAs *x509.CertPool
	// Port of the policy host; 0 = 443. Only tests change it.
	Port   int
	Logger *slog.Logger
	Now    func() time.Time
	// FetchFailed, when set, is told of every failed policy fetch (the
	// TXT record announced a policy that could not be had): the cached
	// policy still applied (nil when none) and the error, which wraps
	// ErrInvalidPolicy when the file was fetched but is not a policy.
	// TLS reporting (RFC 8460) counts these.
	FetchFailed func(domain string, cached *Policy, err error)

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	policy   Policy
	id       string
	expires  time.Time // fetched + max_age
	fetched  time.Time
	txtCheck time.Time // when the TXT id was last confirmed
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

func (f *Fetcher) log() *slog.Logger {
	if f.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Logger
}

// Policy returns the domain's policy to apply now, or nil when it has
// none (no TXT record, mode none, or a policy that cannot be fetched and
// none cached: section 5 says deliver as if the domain had no MTA-STS).
// It never fails: a problem is logged and the best answer given.
func (f *Fetcher) Policy(ctx context.Context, domain string) *Policy {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	now := f.now()
	cached := f.cached(domain, now)
	if cached != nil && now.Sub(cached.txtCheck) < txtRecheck {
		return active(cached.policy)
	}
	id, err := f.lookupID(ctx, domain)
	switch {
	case err != nil && cached != nil:
		// DNS trouble: keep the cached policy (section 5.1, defeating a
		// downgrade by blocking the TXT lookup).
		f.log().Info("mta-sts: TXT lookup failed; using the cached policy", "domain", domain, "err", err)
		return active(cached.policy)
	case err != nil:
		return nil
	case id == "" && cached == nil:
		return nil
	case cached != nil && (id == "" || id == cached.id):
		// Unchanged (or the record went away: a cached policy stays in
		// force until it expires, section 3.1).
		f.touch(domain, now)
		return active(cached.policy)
	}
	p, err := f.fetch(ctx, domain)
	if err != nil {
		f.log().Info("mta-sts: policy fetch failed", "domain", domain, "err", err)
		var keep *Policy
		if cached != nil {
			keep = active(cached.policy)
		}
		if f.FetchFailed != nil && ctx.Err() == nil {
			f.FetchFailed(domain, keep, err)
		}
		return keep
	}
	f.store(domain, &entry{policy: p, id: id, expires: now.Add(p.MaxAge), fetched: now, txtCheck: now})
	return active(p)
}

// Cached returns the cached, unexpired policy of a domain without any
// lookup (nil when none), for decisions made after Policy in the same
// delivery attempt.
func (f *Fetcher) Cached(domain string) *Policy {
	e := f.cached(strings.ToLower(strings.TrimSuffix(domain, ".")), f.now())
	if e == nil {
		return nil
	}
	return active(e.policy)
}

func active(p Policy) *Policy {
	if p.Mode == ModeNone {
		return nil
	}
	return &p
}

func (f *Fetcher) cached(domain string, now time.Time) *entry {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.cache[domain]
	if e == nil || !now.Before(e.expires) {
		delete(f.cache, domain)
		return nil
	}
	c := *e
	return &c
}

func (f *Fetcher) touch(domain string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.cache[domain]; e != nil {
		e.txtCheck = now
	}
}

func (f *Fetcher) store(domain string, e *entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil {
		f.cache = map[string]*entry{}
	}
	if _, ok := f.cache[domain]; !ok && len(f.cache) >= maxCached {
		oldest := ""
		for d, c := range f.cache {
			if oldest == "" || c.fetched.Before(f.cache[oldest].fetched) {
				oldest = d
			}
		}
		delete(f.cache, oldest)
	}
	f.cache[domain] = e
}

// lookupID reads _mta-sts.DOMAIN (section 3.1): the id of the one
// "v=STSv1" record, "" when there is none (or more than one, which the
// RFC says to treat as none).
func (f *Fetcher) lookupID(ctx context.Context, domain string) (string, error) {
	txts, err := f.Resolver.LookupTXT(ctx, "_mta-sts."+domain)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var ids []string
	for _, t := range txts {
		if !strings.HasPrefix(t, "v=STSv1;") && t != "v=STSv1" {
			continue
		}
		id := ""
		for _, field := range strings.Split(t, ";") {
			if k, v, ok := strings.Cut(strings.TrimSpace(field), "="); ok && k == "id" {
				id = v
			}
		}
		if id == "" || len(id) > 32 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 {
		return "", nil
	}
	return ids[0], nil
}

// fetch gets https://mta-sts.DOMAIN/.well-known/mta-sts.txt (section 3.3):
// a verified certificate for that name, no redirects, 200 only,
// text/plain, at most 64 KiB.
func (f *Fetcher) fetch(ctx context.Context, domain string) (Policy, error) {
	host := "mta-sts." + domain
	port := 443
	if f.Port != 0 {
		port = f.Port
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: true,
		Proxy:             nil,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			ips, err := f.Resolver.LookupNetIP(ctx, "ip", host)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			var last error = fmt.Errorf("%s has no address", host)
			for _, ip := range ips {
				c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), strconv.Itoa(port)))
				if err == nil {
					return c, nil
				}
				last = err
			}
			return nil, last
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return errors.New("redirects are not followed (RFC 8461 section 3.3)")
	}}
	url := "https://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/.well-known/mta-sts.txt"
	if port == 443 {
		url = "https://" + host + "/.well-known/mta-sts.txt"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Policy{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Policy{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Policy{}, fmt.Errorf("%s: HTTP status %d", url, resp.StatusCode)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return Policy{}, fmt.Errorf("%s: content type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return Policy{}, err
	}
	p, err := Parse(string(body))
	if err != nil {
		return Policy{}, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return p, nil
}

// ErrInvalidPolicy: the policy file was fetched but does not parse.
var ErrInvalidPolicy = errors.New("mta-sts: invalid policy")
