// Package admin is what an operator does to an installation — domains,
// users, aliases and quotas — as one service the CLI calls today and a web
// admin can call later. It validates names (internationalized domains
// become A-labels), checks what must exist first, and reports every
// failure as an *Error in the operator's words ("user alice@example.test
// already exists"), never with the layers underneath.
package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/store"
)

// Kind classifies an Error, so a caller can map it (exit code, HTTP
// status).
type Kind uint8

const (
	Invalid  Kind = iota + 1 // a bad name or value: the request cannot succeed as typed
	NotFound                 // what it names does not exist
	Exists                   // what it creates exists already
	NotEmpty                 // what it deletes still holds something
)

// Error is an admin failure with its operator-facing message.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func invalidf(format string, a ...any) error {
	return &Error{Kind: Invalid, Msg: fmt.Sprintf(format, a...)}
}

func errorf(k Kind, format string, a ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, a...)}
}

// Store is what the service needs of the storage engine.
type Store interface {
	store.Directory
	store.Aliases
}

// Service performs admin operations on a store.
type Service struct {
	Store Store
	// FetchSources is needed by the fetch source methods only.
	FetchSources store.FetchSources
}

// domainMissing is the error for a domain that is not on this server.
func domainMissing(d string) error {
	return errorf(NotFound, "domain %s does not exist (add it with: pochta domain add %s)", d, d)
}

// wrap turns an unexpected store error into one that says what was being
// done; the store's own text stays as the cause (a database failure is not
// the operator's doing and its detail helps).
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// AddDomain adds a mail domain.
func (s *Service) AddDomain(ctx context.Context, name string) (string, error) {
	d, err := Domain(name)
	if err != nil {
		return "", err
	}
	err = s.Store.AddDomain(ctx, d)
	if errors.Is(err, store.ErrExists) {
		return "", errorf(Exists, "domain %s already exists", d)
	}
	return d, wrap("adding domain "+d, err)
}

// DeleteDomain removes a domain that has no users and no aliases left.
func (s *Service) DeleteDomain(ctx context.Context, name string) error {
	d, err := Domain(name)
	if err != nil {
		return err
	}
	if _, err := s.Store.Domain(ctx, d); errors.Is(err, store.ErrNotFound) {
		return errorf(NotFound, "domain %s does not exist", d)
	} else if err != nil {
		return wrap("looking up domain "+d, err)
	}
	users, err := s.Store.Accounts(ctx, d)
	if err != nil {
		return wrap("listing users of "+d, err)
	}
	aliases, err := s.Store.ListAliases(ctx, d)
	if err != nil {
		return wrap("listing aliases of "+d, err)
	}
	if len(users) > 0 || len(aliases) > 0 {
		return errorf(NotEmpty, "domain %s still has %s and %s: delete them first", d,
			plural(len(users), "user"), plural(len(aliases), "alias"))
	}
	err = s.Store.DeleteDomain(ctx, d)
	if errors.Is(err, store.ErrExists) { // something was added meanwhile
		return errorf(NotEmpty, "domain %s still has users or aliases: delete them first", d)
	}
	return wrap("deleting domain "+d, err)
}

func plural(n int, word string) string {
	switch {
	case n == 1:
		return "1 " + word
	case word == "alias":
		return fmt.Sprintf("%d aliases", n)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// DomainInfo is one domain as listed.
type DomainInfo struct {
	Name    string // stored (A-label) form
	Unicode string // U-label form when it differs, else ""
}

// Domains lists the domains.
func (s *Service) Domains(ctx context.Context) ([]DomainInfo, error) {
	ds, err := s.Store.Domains(ctx)
	if err != nil {
		return nil, wrap("listing domains", err)
	}
	out := make([]DomainInfo, len(ds))
	for i, d := range ds {
		out[i] = DomainInfo{Name: d.Name, Unicode: UnicodeDomain(d.Name)}
	}
	return out, nil
}

// userMissing is the error for an unknown account.
func userMissing(addr string) error { return errorf(NotFound, "user %s does not exist", addr) }

// User returns an account, checking the address first.
func (s *Service) User(ctx context.Context, address string) (store.Account, error) {
	addr, err := Address(address)
	if err != nil {
		return store.Account{}, err
	}
	a, err := s.Store.Account(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, userMissing(addr)
	}
	return a, wrap("looking up user "+addr, err)
}

// AddUserResult says what AddUser did besides creating the account.
type AddUserResult struct {
	Account store.Account
	// RoleAliases are the RFC 2142 addresses (postmaster@, abuse@) that
	// were created pointing to this first user of the domain.
	RoleAliases []string
}

// roleAddresses must reach a person at every mail domain (RFC 2142 section
// 2; RFC 5321 section 4.5.1 requires postmaster).
var roleAddresses = []string{"postmaster", "abuse"}

// AddUser creates an account. The first account of a domain also gets the
// domain's postmaster@ and abuse@ (those not already users or aliases).
func (s *Service) AddUser(ctx context.Context, address string, creds store.Credentials) (AddUserResult, error) {
	addr, err := Address(address)
	if err != nil {
		return AddUserResult{}, err
	}
	domain := domainOf(addr)
	if _, err := s.Store.Domain(ctx, domain); errors.Is(err, store.ErrNotFound) {
		return AddUserResult{}, domainMissing(domain)
	} else if err != nil {
		return AddUserResult{}, wrap("looking up domain "+domain, err)
	}
	existing, err := s.Store.Accounts(ctx, domain)
	if err != nil {
		return AddUserResult{}, wrap("listing users of "+domain, err)
	}
	// The store would let an account shadow an alias of the same
	// address; say so instead.
	if _, err := s.Store.Alias(ctx, addr); err == nil {
		return AddUserResult{}, errorf(Exists, "%s is an alias; delete the alias first to make it a user", addr)
	}
	acct, err := s.Store.CreateAccount(ctx, addr, creds)
	switch {
	case errors.Is(err, store.ErrExists):
		return AddUserResult{}, errorf(Exists, "user %s already exists", addr)
	case errors.Is(err, store.ErrNotFound):
		return AddUserResult{}, domainMissing(domain)
	case err != nil:
		return AddUserResult{}, wrap("creating user "+addr, err)
	}
	res := AddUserResult{Account: acct}
	if len(existing) > 0 {
		return res, nil
	}
	for _, role := range roleAddresses {
		ra := role + "@" + domain
		if ra == addr {
			continue
		}
		if _, err := s.Store.Alias(ctx, ra); err == nil {
			continue // the operator set it up already
		}
		err := s.Store.AddAlias(ctx, ra, []string{addr})
		if errors.Is(err, store.ErrExists) { // an account of that name
			continue
		}
		if err != nil {
			return res, wrap("user "+addr+" created, but creating "+ra, err)
		}
		res.RoleAliases = append(res.RoleAliases, ra)
	}
	return res, nil
}

func domainOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[i+1:]
		}
	}
	return ""
}

// SetCredentials replaces an account's credentials.
func (s *Service) SetCredentials(ctx context.Context, address string, creds store.Credentials) error {
	a, err := s.User(ctx, address)
	if err != nil {
		return err
	}
	err = s.Store.SetCredentials(ctx, a.Address, creds)
	if errors.Is(err, store.ErrNotFound) {
		return userMissing(a.Address)
	}
	return wrap("setting the password of "+a.Address, err)
}

// DeleteUser removes an account and its mail.
func (s *Service) DeleteUser(ctx context.Context, address string) error {
	addr, err := Address(address)
	if err != nil {
		return err
	}
	err = s.Store.DeleteAccount(ctx, addr)
	if errors.Is(err, store.ErrNotFound) {
		return userMissing(addr)
	}
	return wrap("deleting user "+addr, err)
}

// SetQuota sets an account's quota in octets; 0 removes it.
func (s *Service) SetQuota(ctx context.Context, address string, octets int64) error {
	if octets < 0 {
		return invalidf("a quota cannot be negative")
	}
	addr, err := Address(address)
	if err != nil {
		return err
	}
	err = s.Store.SetQuota(ctx, addr, octets)
	if errors.Is(err, store.ErrNotFound) {
		return userMissing(addr)
	}
	return wrap("setting the quota of "+addr, err)
}

// Users lists accounts, of one domain or all ("").
func (s *Service) Users(ctx context.Context, domain string) ([]store.Account, error) {
	domain, err := optionalDomain(domain)
	if err != nil {
		return nil, err
	}
	as, err := s.Store.Accounts(ctx, domain)
	return as, wrap("listing users", err)
}

// optionalDomain checks a domain filter; "" means all.
func optionalDomain(d string) (string, error) {
	if d == "" {
		return "", nil
	}
	return Domain(d)
}

// aliasAndTargets checks an alias and its targets.
func aliasAndTargets(alias string, targets []string) (string, []string, error) {
	a, err := AliasAddress(alias)
	if err != nil {
		return "", nil, err
	}
	ts, err := addresses(targets)
	return a, ts, err
}

// AddAlias adds targets (each user@domain, local or remote) to an alias.
func (s *Service) AddAlias(ctx context.Context, alias string, targets []string) error {
	a, ts, err := aliasAndTargets(alias, targets)
	if err != nil {
		return err
	}
	err = s.Store.AddAlias(ctx, a, ts)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return domainMissing(domainOf(a))
	case errors.Is(err, store.ErrExists):
		return errorf(Exists, "%s is a user; an alias cannot have the same address", a)
	case errors.Is(err, store.ErrInvalid):
		return invalidf("alias %s cannot point to itself", a)
	}
	return wrap("adding alias "+a, err)
}

// DeleteAlias removes targets of an alias, or the whole alias when none are
// given.
func (s *Service) DeleteAlias(ctx context.Context, alias string, targets []string) error {
	a, ts, err := aliasAndTargets(alias, targets)
	if err != nil {
		return err
	}
	err = s.Store.DeleteAlias(ctx, a, ts)
	if errors.Is(err, store.ErrNotFound) {
		if len(ts) > 0 {
			return errorf(NotFound, "alias %s does not exist or has none of those targets", a)
		}
		return errorf(NotFound, "alias %s does not exist", a)
	}
	return wrap("deleting alias "+a, err)
}

// Aliases lists aliases, of one domain or all ("").
func (s *Service) Aliases(ctx context.Context, domain string) ([]store.Alias, error) {
	domain, err := optionalDomain(domain)
	if err != nil {
		return nil, err
	}
	as, err := s.Store.ListAliases(ctx, domain)
	return as, wrap("listing aliases", err)
}

func addresses(in []string) ([]string, error) {
	out := make([]string, len(in))
	for i, t := range in {
		a, err := Address(t)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}
