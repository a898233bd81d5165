package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/store"
)

// UserImportOptions configure ImportUsers.
type UserImportOptions struct {
	// DefaultDomain is appended to names without "@" ("" = such lines
	// are refused).
	DefaultDomain string
	// DryRun checks every line and creates nothing.
	DryRun bool
}

// UserImportResult counts what ImportUsers did.
type UserImportResult struct {
	Created int
	Schemes map[string]int // accounts created per password scheme
	// Skipped lists lines not imported, "LINE: reason".
	Skipped []string
}

// maxUserLine bounds one line of a user file.
const maxUserLine = 64 << 10

// ImportUsers creates accounts from a Dovecot passwd-file
// ("user@domain:{SCHEME}hash[:uid:gid:...]", extra fields ignored) or a
// CSV ("user@domain,{SCHEME}hash[,...]"), keeping each password hash as it
// is: no hashing per line, so thousands of users take seconds. Logins
// verify the imported hash and replace it with Pochta's own on the first
// success (internal/auth). Blank lines and lines starting with "#" are
// ignored; a line that cannot be imported (unknown scheme, malformed hash,
// existing user, missing domain) is reported and the others imported.
// Only a store failure stops the import.
func (s *Service) ImportUsers(ctx context.Context, r io.Reader, o UserImportOptions) (UserImportResult, error) {
	res := UserImportResult{Schemes: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxUserLine)
	firstOfDomain := map[string]bool{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		skip := func(format string, a ...any) {
			res.Skipped = append(res.Skipped, fmt.Sprintf("line %d: %s", n, fmt.Sprintf(format, a...)))
		}
		name, hash, ok := splitUserLine(line)
		if !ok {
			skip("want user@domain:{SCHEME}hash or user@domain,{SCHEME}hash")
			continue
		}
		if !strings.Contains(name, "@") && o.DefaultDomain != "" {
			name += "@" + o.DefaultDomain
		}
		addr, err := Address(name)
		if err != nil {
			skip("%v", err)
			continue
		}
		scheme, err := auth.CheckForeignHash(hash)
		if err != nil {
			skip("%s: %v", addr, err)
			continue
		}
		if o.DryRun {
			res.Created++
			res.Schemes[scheme]++
			continue
		}
		// A {SCRAM-SHA-256} hash is the SCRAM keys: SCRAM logins work
		// from the start, not only after a password login.
		creds := store.Credentials{PasswordHash: hash, SCRAMSHA256: auth.ImportedSCRAM(hash)}
		domain := domainOf(addr)
		if !firstOfDomain[domain] {
			// The first user of a domain in this file goes the usual way
			// (a domain's first user gets postmaster@ and abuse@).
			firstOfDomain[domain] = true
			_, err = s.AddUser(ctx, addr, creds)
		} else {
			err = s.createImported(ctx, addr, creds)
		}
		var ae *Error
		if errors.As(err, &ae) {
			skip("%v", err)
			continue
		} else if err != nil {
			return res, err
		}
		res.Created++
		res.Schemes[scheme]++
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("reading the user file: %w", err)
	}
	return res, nil
}

// createImported creates one more account of a domain AddUser has seen:
// without AddUser's listing of the domain's accounts, which would make an
// import of n users read n² rows.
func (s *Service) createImported(ctx context.Context, addr string, creds store.Credentials) error {
	if _, err := s.Store.Alias(ctx, addr); err == nil {
		return errorf(Exists, "%s is an alias; delete the alias first to make it a user", addr)
	}
	_, err := s.Store.CreateAccount(ctx, addr, creds)
	switch {
	case errors.Is(err, store.ErrExists):
		return errorf(Exists, "user %s already exists", addr)
	case errors.Is(err, store.ErrNotFound):
		return domainMissing(domainOf(addr))
	case err != nil:
		return wrap("creating user "+addr, err)
	}
	return nil
}

// splitUserLine splits a passwd-file or CSV line into the user name and
// the password hash: the separator is whichever of ':' and ',' comes
// first (neither can be part of an address). A CSV hash may itself hold
// commas (argon2's "m=65536,t=3,p=1"): unless quoted, it is the longest
// run of fields that is a valid hash.
func splitUserLine(line string) (name, hash string, ok bool) {
	i := strings.IndexAny(line, ":,")
	if i <= 0 {
		return "", "", false
	}
	name, sep, rest := strings.TrimSpace(line[:i]), line[i], line[i+1:]
	if sep == ':' {
		hash, _, _ = strings.Cut(rest, ":")
		return name, hash, hash != ""
	}
	rest = strings.TrimSpace(rest)
	if q, ok := strings.CutPrefix(rest, `"`); ok {
		hash, _, _ = strings.Cut(q, `"`)
		return name, hash, hash != ""
	}
	for cand := rest; cand != ""; {
		if _, err := auth.CheckForeignHash(cand); err == nil {
			return name, cand, true
		}
		j := strings.LastIndexByte(cand, ',')
		if j < 0 {
			break
		}
		cand = cand[:j]
	}
	hash, _, _ = strings.Cut(rest, ",") // not a valid hash: reported as such
	return name, hash, hash != ""
}
