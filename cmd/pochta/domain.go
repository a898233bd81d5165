package main

import (
	"fmt"

	"github.com/pochta-mail/pochta/internal/admin"
)

// adminService loads the installation and returns the admin service over
// its store; the caller closes the returned closer.
func (c *cli) adminService(dir string) (*admin.Service, func() error, error) {
	_, st, err := c.adminStore(dir)
	if err != nil {
		return nil, nil, err
	}
	return &admin.Service{Store: st}, st.Close, nil
}

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
	// Names are checked before the installation is opened, so a typo is
	// a usage error even without one.
	for _, n := range names {
		if _, err := admin.Domain(n); err != nil {
			return err
		}
	}
	svc, closeStore, err := c.adminService(*dir)
	if err != nil {
		return err
	}
	defer closeStore()
	switch sub {
	case "add":
		for _, n := range names {
			if _, err := svc.AddDomain(c.ctx, n); err != nil {
				return err
			}
		}
	case "del":
		return svc.DeleteDomain(c.ctx, names[0])
	case "list":
		domains, err := svc.Domains(c.ctx)
		if err != nil {
			return err
		}
		for _, d := range domains {
			if d.Unicode != "" {
				fmt.Fprintf(c.stdout, "%s (%s)\n", d.Name, d.Unicode)
				continue
			}
			fmt.Fprintln(c.stdout, d.Name)
		}
	}
	return nil
}
