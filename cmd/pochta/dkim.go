package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/msgauth"
)

// dkimCmd: dkim keygen DOMAIN [--algo rsa|ed25519] [--selector S]. It
// writes DIR/dkim/DOMAIN/S.pem and prints the TXT record to publish on
// stdout (one zone-file line, nothing else, so scripts can use it);
// pochta serve signs with the key from its next start.
func (c *cli) dkimCmd(args []string) error {
	fs := newFlags("dkim", c.env)
	dir := c.dirFlag(fs)
	algo := fs.String("algo", msgauth.AlgoRSA, "key `algorithm`: rsa (RSA-2048) or ed25519")
	selector := fs.String("selector", "", "DKIM `selector` (default: the algorithm and the month, e.g. rsa-202601)")
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 2 || rest[0] != "keygen" {
		return usagef("usage: pochta dkim keygen DOMAIN [--algo rsa|ed25519] [--selector S]")
	}
	if *algo != msgauth.AlgoRSA && *algo != msgauth.AlgoEd25519 {
		return usagef("dkim keygen: --algo %q: want rsa or ed25519", *algo)
	}
	if *selector == "" {
		// A dated selector lets a new key be published beside the old
		// one when keys are rotated.
		*selector = *algo + "-" + time.Now().UTC().Format("200601")
	}
	cfg, err := c.loadConfig(*dir, nil)
	if err != nil {
		return err
	}
	key, err := admin.DKIMKeygen(dkimDir(cfg), rest[1], *selector, *algo)
	if err != nil {
		return err
	}
	name, text := key.Record()
	fmt.Fprintln(c.stdout, zoneTXT(name, text))
	fmt.Fprintf(c.stderr, "pochta: wrote %s/%s/%s.pem; publish the TXT record above, then restart pochta serve\n",
		dkimDir(cfg), key.Domain, key.Selector)
	return nil
}

// zoneTXT writes a TXT record as a zone-file line, the text split into
// quoted strings of at most 255 octets (RFC 1035 3.3.14; RSA keys are
// longer than one string may be).
func zoneTXT(name, text string) string {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, `"`+text[:255]+`"`)
		text = text[255:]
	}
	parts = append(parts, `"`+text+`"`)
	return name + ". TXT " + strings.Join(parts, " ")
}
