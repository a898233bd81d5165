package main

import (
	"fmt"
	"strings"
)

func (c *cli) domainCmd(args []string) error {
	fs := newFlags("domain", c.env)
	dir := c.dirFlag(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return usagef("domain: want add, del or list")
	}
	sub, names := rest[0], rest[1:]
	switch {
	case sub == "add" && len(names) > 0, sub == "del" && len(names) == 1, sub == "list" && len(names) == 0:
	default:
		return usagef("usage: pochta domain add NAME... | del NAME | list")
	}
	_, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "add":
		for _, n := range names {
			if err := checkDomain(n); err != nil {
				return usageErr(err)
			}
			if err := st.AddDomain(c.ctx, strings.ToLower(n)); err != nil {
				return fmt.Errorf("domain add %s: %w", n, err)
			}
		}
	case "del":
		if err := st.DeleteDomain(c.ctx, strings.ToLower(names[0])); err != nil {
			return fmt.Errorf("domain del %s: %w (a domain must have no accounts)", names[0], err)
		}
	case "list":
		domains, err := st.Domains(c.ctx)
		if err != nil {
			return err
		}
		for _, d := range domains {
			fmt.Fprintln(c.stdout, d.Name)
		}
	}
	return nil
}

// checkDomain refuses names that cannot be a mail domain; finer checks are
// the store's.
func checkDomain(name string) error {
	if name == "" || strings.ContainsAny(name, "@ \t\r\n/") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("%q is not a domain name", name)
	}
	return nil
}

// checkAddress accepts user@domain and returns it lower-case.
func checkAddress(addr string) (string, error) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" || strings.ContainsAny(local, "@ \t\r\n\"") || checkDomain(domain) != nil {
		return "", fmt.Errorf("%q is not an address of the form user@domain", addr)
	}
	return addr, nil
}
