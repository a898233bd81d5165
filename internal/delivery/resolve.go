// Package delivery is the one path by which mail gets into the store: the
// SMTP server and `pochta deliver` both use it. It resolves recipient
// addresses (accounts, aliases, plus-addressing, per-domain catch-alls),
// checks quotas early, builds the trace header fields (Return-Path,
// Received) and hands the message to store.Deliverer, local copies and
// queued remote copies in one durable transaction.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
	"golang.org/x/net/idna"
)

// Errors of recipient resolution. The SMTP server maps them to replies,
// `pochta deliver` to exit codes.
var (
	// ErrUnknownUser: the domain is local but nothing receives mail for
	// the address.
	ErrUnknownUser = errors.New("delivery: unknown user")
	// ErrNotLocal: the address's domain is not served here.
	ErrNotLocal = errors.New("delivery: domain not local")
	// ErrBadAddress: not a user@domain address.
	ErrBadAddress = errors.New("delivery: malformed address")
	// ErrAliasLoop: alias expansion went too deep or too wide.
	ErrAliasLoop = errors.New("delivery: alias loop or expansion too large")
	// ErrOverQuota: a recipient's mailbox is full (store.ErrQuota wraps
	// the same condition found at delivery time).
	ErrOverQuota = errors.New("delivery: mailbox full")
)

// Directory is what resolution reads from the store.
type Directory interface {
	Domain(ctx context.Context, name string) (store.Domain, error)
	Account(ctx context.Context, address string) (store.Account, error)
	Alias(ctx context.Context, address string) (store.Alias, error)
}

// Limits of alias expansion: deeper chains are loops in practice, and a
// wider one would let one RCPT fan out without bound.
const (
	maxAliasDepth   = 8
	maxAliasTargets = 1000
)

// Resolver maps recipient addresses to accounts and remote addresses.
type Resolver struct {
	Dir Directory
	// Delimiters are the characters that start a plus-address tag
	// (user+tag@domain is delivered to user@domain when no account or
	// alias has the full address); "" disables plus-addressing.
	Delimiters string
}

// Resolution is where mail for one address goes.
type Resolution struct {
	Accounts []store.Account // local mailboxes, without duplicates
	Remote   []string        // remote addresses (from aliases), without duplicates
}

// SplitAddress lower-cases the domain of a "local@domain" address and
// returns both parts. The local part keeps its case for the caller
// (delivery lower-cases it too: accounts are case-insensitive). Quoted
// local parts and source routes are not supported; neither is an empty
// part.
func SplitAddress(address string) (local, domain string, err error) {
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 || len(address) > 320 {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, address)
	}
	local, domain = address[:at], strings.ToLower(address[at+1:])
	// An internationalized domain (SMTPUTF8 mail, or typed by hand) is
	// stored as A-labels: look it up that way (RFC 6531 section 3.2).
	if !isASCII(domain) {
		a, err := idna.Lookup.ToASCII(domain)
		if err != nil {
			return "", "", fmt.Errorf("%w: %q", ErrBadAddress, address)
		}
		domain = a
	}
	if strings.ContainsAny(address, " \t\r\n\"<>,;\\") || strings.ContainsRune(local, '@') ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", "", fmt.Errorf("%w: %q", ErrBadAddress, address)
	}
	return local, domain, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// IsLocalDomain reports whether the store serves domain.
func (r *Resolver) IsLocalDomain(ctx context.Context, domain string) (bool, error) {
	_, err := r.Dir.Domain(ctx, domain)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	}
	return false, err
}

// Resolve finds where mail for address goes. Errors: ErrBadAddress,
// ErrNotLocal, ErrUnknownUser, ErrAliasLoop, or a store error (wrapping
// store.ErrTemporary).
func (r *Resolver) Resolve(ctx context.Context, address string) (Resolution, error) {
	return r.resolve(ctx, address, true)
}

// resolve is Resolve; catchAll false ignores catch-all aliases (used to
// decide which sender addresses an account owns).
func (r *Resolver) resolve(ctx context.Context, address string, catchAll bool) (Resolution, error) {
	local, domain, err := SplitAddress(address)
	if err != nil {
		return Resolution{}, err
	}
	ok, err := r.IsLocalDomain(ctx, domain)
	if err != nil {
		return Resolution{}, err
	}
	if !ok {
		return Resolution{}, fmt.Errorf("%w: %s", ErrNotLocal, domain)
	}
	e := &expansion{r: r, catchAll: catchAll, seenAcct: map[int64]bool{}, seenAddr: map[string]bool{}}
	if err := e.expand(ctx, strings.ToLower(local)+"@"+domain, 0); err != nil {
		return Resolution{}, err
	}
	if len(e.out.Accounts) == 0 && len(e.out.Remote) == 0 {
		// Only aliases pointing at each other.
		return Resolution{}, fmt.Errorf("%w: %s", ErrAliasLoop, address)
	}
	return e.out, nil
}

// Owns reports whether mail for address reaches account a without a
// catch-all: a's own address, its plus-addresses, and aliases that
// include it. Submission lets an account send as exactly those.
func (r *Resolver) Owns(ctx context.Context, a store.Account, address string) (bool, error) {
	res, err := r.resolve(ctx, address, false)
	switch {
	case errors.Is(err, ErrNotLocal), errors.Is(err, ErrUnknownUser), errors.Is(err, ErrBadAddress), errors.Is(err, ErrAliasLoop):
		return false, nil
	case err != nil:
		return false, err
	}
	for _, acct := range res.Accounts {
		if acct.ID == a.ID {
			return true, nil
		}
	}
	return false, nil
}

// expansion is one Resolve call's state.
type expansion struct {
	r        *Resolver
	catchAll bool
	out      Resolution
	seenAcct map[int64]bool
	seenAddr map[string]bool
	targets  int
}

// expand resolves a lower-case local address: an account, an alias, the
// base of a plus-address, then the domain's catch-all.
func (e *expansion) expand(ctx context.Context, addr string, depth int) error {
	if depth > maxAliasDepth {
		return fmt.Errorf("%w: %s", ErrAliasLoop, addr)
	}
	if e.seenAddr[addr] {
		return nil // reached twice through aliases: one copy
	}
	e.seenAddr[addr] = true
	found, err := e.exact(ctx, addr, depth)
	if found || err != nil {
		return err
	}
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr[:at], addr[at+1:]
	if i := strings.IndexAny(local, e.r.Delimiters); e.r.Delimiters != "" && i > 0 {
		if found, err := e.exact(ctx, local[:i]+"@"+domain, depth); found || err != nil {
			return err
		}
	}
	if e.catchAll {
		if found, err := e.alias(ctx, "@"+domain, depth); found || err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %s", ErrUnknownUser, addr)
}

// exact resolves addr as an account or an alias, without plus-addressing
// or catch-all; found is false when it is neither.
func (e *expansion) exact(ctx context.Context, addr string, depth int) (found bool, err error) {
	a, err := e.r.Dir.Account(ctx, addr)
	switch {
	case err == nil:
		if !e.seenAcct[a.ID] {
			e.seenAcct[a.ID] = true
			e.out.Accounts = append(e.out.Accounts, a)
		}
		return true, nil
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	return e.alias(ctx, addr, depth)
}

// alias expands the alias named addr, if there is one.
func (e *expansion) alias(ctx context.Context, addr string, depth int) (found bool, err error) {
	al, err := e.r.Dir.Alias(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, t := range al.Targets {
		if e.targets++; e.targets > maxAliasTargets {
			return true, fmt.Errorf("%w: %s", ErrAliasLoop, addr)
		}
		if err := e.target(ctx, t, depth+1); err != nil {
			return true, err
		}
	}
	return true, nil
}

// target expands one alias target: local ones recursively (a target that
// resolves to nothing makes the alias fail, so a broken alias is noticed
// at RCPT time instead of losing mail), remote ones as they are.
func (e *expansion) target(ctx context.Context, t string, depth int) error {
	_, domain, err := SplitAddress(t)
	if err != nil {
		return err
	}
	local, err := e.r.IsLocalDomain(ctx, domain)
	if err != nil {
		return err
	}
	if local {
		return e.expand(ctx, strings.ToLower(t), depth)
	}
	t = strings.ToLower(t)
	if !e.seenAddr[t] {
		e.seenAddr[t] = true
		e.out.Remote = append(e.out.Remote, t)
	}
	return nil
}
