package main

import (
	"fmt"
	"strings"
)

// aliasCmd: alias add ALIAS TARGET... | del ALIAS [TARGET...] | list [DOMAIN].
// ALIAS "@domain" is the domain's catch-all.
func (c *cli) aliasCmd(args []string) error {
	fs := newFlags("alias", c.env)
	dir := c.dirFlag(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("alias: want add, del or list")
	}
	sub, ops := rest[0], rest[1:]
	switch {
	case sub == "add" && len(ops) >= 2, sub == "del" && len(ops) >= 1, sub == "list" && len(ops) <= 1:
	default:
		return usagef("usage: pochta alias add ALIAS TARGET... | del ALIAS [TARGET...] | list [DOMAIN]")
	}
	if sub != "list" {
		if err := checkAlias(ops[0]); err != nil {
			return usageErr(err)
		}
		for _, t := range ops[1:] {
			if _, err := checkAddress(t); err != nil {
				return usageErr(err)
			}
		}
	}
	_, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		if err := st.AddAlias(c.ctx, ops[0], ops[1:]); err != nil {
			return fmt.Errorf("alias add %s: %w", ops[0], err)
		}
	case "del":
		if err := st.DeleteAlias(c.ctx, ops[0], ops[1:]); err != nil {
			return fmt.Errorf("alias del %s: %w", ops[0], err)
		}
	case "list":
		domain := ""
		if len(ops) == 1 {
			domain = ops[0]
		}
		aliases, err := st.ListAliases(c.ctx, domain)
		if err != nil {
			return err
		}
		for _, a := range aliases {
			fmt.Fprintf(c.stdout, "%s %s\n", a.Address, strings.Join(a.Targets, " "))
		}
	}
	return nil
}

// checkAlias accepts user@domain or @domain (a catch-all).
func checkAlias(a string) error {
	if d, ok := strings.CutPrefix(a, "@"); ok {
		return checkDomain(d)
	}
	_, err := checkAddress(a)
	return err
}
