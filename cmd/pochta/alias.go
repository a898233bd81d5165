package main

import (
	"fmt"
	"strings"

	"github.com/pochta-mail/pochta/internal/admin"
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
		if _, err := admin.AliasAddress(ops[0]); err != nil {
			return err
		}
		for _, t := range ops[1:] {
			if _, err := admin.Address(t); err != nil {
				return err
			}
		}
	}
	svc, closeStore, err := c.adminService(*dir)
	if err != nil {
		return err
	}
	defer closeStore()
	switch sub {
	case "add":
		return svc.AddAlias(c.ctx, ops[0], ops[1:])
	case "del":
		return svc.DeleteAlias(c.ctx, ops[0], ops[1:])
	}
	domain := ""
	if len(ops) == 1 {
		domain = ops[0]
	}
	aliases, err := svc.Aliases(c.ctx, domain)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		fmt.Fprintf(c.stdout, "%s %s\n", a.Address, strings.Join(a.Targets, " "))
	}
	return nil
}
