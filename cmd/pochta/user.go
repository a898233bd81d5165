package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/config"
)

const legacyWarning = "warning: the APOP/CRAM-MD5 secret is stored plaintext-equivalent: anyone who reads the database can log in as this user"

func (c *cli) userCmd(args []string) error {
	fs := newFlags("user", c.env)
	dir := c.dirFlag(fs)
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	legacy := fs.Bool("legacy-auth", false, "also store a plaintext-equivalent secret for APOP and CRAM-MD5")
	domain := fs.String("domain", "", "user import: the domain of names without @")
	dry := fs.Bool("dry-run", false, "user import: check every line, create nothing")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("user: want add, passwd, del, quota, list or import")
	}
	sub, operands := rest[0], rest[1:]
	if sub == "import" {
		if len(operands) != 1 {
			return usagef("usage: pochta user import FILE [--domain D] [--dry-run]")
		}
		return c.userImport(*dir, operands[0], *domain, *dry)
	}
	switch {
	case (sub == "add" || sub == "passwd" || sub == "del") && len(operands) == 1, sub == "list" && len(operands) <= 1,
		sub == "quota" && len(operands) == 2:
	default:
		return usagef("usage: pochta user add|passwd|del ADDRESS | quota ADDRESS SIZE|none | list [DOMAIN]")
	}
	var quota config.Size
	if sub == "quota" && operands[1] != "none" {
		if err := quota.UnmarshalText([]byte(operands[1])); err != nil || quota == 0 {
			return usagef("user quota: %q is not a size (e.g. 500MiB) or none", operands[1])
		}
	}
	if sub != "list" {
		if _, err := admin.Address(operands[0]); err != nil {
			return err
		}
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &admin.Service{Store: st}

	switch sub {
	case "list":
		domain := ""
		if len(operands) == 1 {
			domain = operands[0]
		}
		accounts, err := svc.Users(c.ctx, domain)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			last := "never"
			if !a.LastLogin.IsZero() {
				last = a.LastLogin.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(c.stdout, "%s used=%s quota=%s last_login=%s\n", a.Address, sizeText(a.Used), quotaText(a.Quota), last)
		}
		return nil
	case "quota":
		return svc.SetQuota(c.ctx, operands[0], int64(quota))
	case "del":
		return svc.DeleteUser(c.ctx, operands[0])
	}

	// add and passwd: both (re)build the whole credential set.
	if sub == "passwd" {
		if _, err := svc.User(c.ctx, operands[0]); err != nil { // before asking for a password
			return err
		}
	}
	password, err := c.readPassword(*fromStdin)
	if err != nil {
		return err
	}
	creds, err := newAuth(cfg, st, c.adminLogger()).NewCredentials(password, *legacy)
	if err != nil {
		return usageErr(err)
	}
	if *legacy {
		fmt.Fprintln(c.stderr, legacyWarning)
		if !cfg.Auth.Legacy {
			fmt.Fprintln(c.stderr, "warning: auth.legacy is false in the configuration: APOP and CRAM-MD5 stay disabled until it is set to true")
		}
	}
	if sub == "passwd" {
		return svc.SetCredentials(c.ctx, operands[0], creds)
	}
	res, err := svc.AddUser(c.ctx, operands[0], creds)
	if err != nil {
		return err
	}
	switch len(res.RoleAliases) {
	case 1:
		fmt.Fprintf(c.stdout, "%s now delivers to %s (RFC 2142)\n", res.RoleAliases[0], res.Account.Address)
	case 2:
		fmt.Fprintf(c.stdout, "%s and %s now deliver to %s (RFC 2142)\n", res.RoleAliases[0], res.RoleAliases[1], res.Account.Address)
	}
	return nil
}

// sizeText writes octets the way the config does (500MiB), or as bytes.
func sizeText(n int64) string {
	b, _ := config.Size(n).MarshalText()
	return string(b)
}

func quotaText(n int64) string {
	if n <= 0 {
		return "none"
	}
	return sizeText(n)
}

// userImport creates accounts from a passwd-file or CSV with their
// existing password hashes ("-" reads standard input).
func (c *cli) userImport(dir, file, domain string, dry bool) error {
	in := c.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	_, st, err := c.adminStore(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := &admin.Service{Store: st}
	start := time.Now()
	res, err := svc.ImportUsers(c.ctx, in, admin.UserImportOptions{DefaultDomain: domain, DryRun: dry})
	verb := "created"
	if dry {
		verb = "would create (dry run)"
	}
	var schemes []string
	for s, n := range res.Schemes {
		schemes = append(schemes, fmt.Sprintf("%s %d", s, n))
	}
	slices.Sort(schemes)
	fmt.Fprintf(c.stdout, "%s %d users in %s (%s)\n", verb, res.Created, time.Since(start).Round(time.Millisecond), strings.Join(schemes, ", "))
	if len(res.Skipped) > 0 {
		fmt.Fprintf(c.stdout, "skipped: %d\n", len(res.Skipped))
		for _, s := range res.Skipped {
			fmt.Fprintf(c.stdout, "  %s\n", s)
		}
	}
	return err
}
