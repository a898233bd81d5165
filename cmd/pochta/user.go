package main

import (
	"fmt"

	"github.com/pochta-mail/pochta/internal/config"
)

const legacyWarning = "warning: the APOP/CRAM-MD5 secret is stored plaintext-equivalent: anyone who reads the database can log in as this user"

func (c *cli) userCmd(args []string) error {
	fs := newFlags("user", c.env)
	dir := c.dirFlag(fs)
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	legacy := fs.Bool("legacy-auth", false, "also store a plaintext-equivalent secret for APOP and CRAM-MD5")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("user: want add, passwd, del or list")
	}
	sub, operands := rest[0], rest[1:]
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
	var address string
	if sub != "list" {
		if address, err = checkAddress(operands[0]); err != nil {
			return usageErr(err)
		}
	}
	cfg, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()

	switch sub {
	case "list":
		domain := ""
		if len(operands) == 1 {
			domain = operands[0]
		}
		accounts, err := st.Accounts(c.ctx, domain)
		if err != nil {
			return err
		}
		for _, a := range accounts {
			limit := "none"
			if a.Quota > 0 {
				b, _ := config.Size(a.Quota).MarshalText()
				limit = string(b)
			}
			fmt.Fprintf(c.stdout, "%s used=%d quota=%s\n", a.Address, a.Used, limit)
		}
		return nil
	case "quota":
		if err := st.SetQuota(c.ctx, address, int64(quota)); err != nil {
			return fmt.Errorf("user quota %s: %w", address, err)
		}
		return nil
	case "del":
		if err := st.DeleteAccount(c.ctx, address); err != nil {
			return fmt.Errorf("user del %s: %w", address, err)
		}
		return nil
	}

	// add and passwd: both (re)build the whole credential set.
	if sub == "passwd" {
		if _, err := st.Account(c.ctx, address); err != nil { // before asking for a password
			return fmt.Errorf("user passwd %s: %w", address, err)
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
	if sub == "add" {
		if _, err := st.CreateAccount(c.ctx, address, creds); err != nil {
			return fmt.Errorf("user add %s: %w", address, err)
		}
		return nil
	}
	if err := st.SetCredentials(c.ctx, address, creds); err != nil {
		return fmt.Errorf("user passwd %s: %w", address, err)
	}
	return nil
}
