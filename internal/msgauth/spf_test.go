package msgauth

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/resolver"
)

func spfZone(t *testing.T, lines ...string) *resolver.Static {
	t.Helper()
	z, err := resolver.ParseZone(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return z
}

// tempFail answers every query for one name with SERVFAIL.
type tempFail struct {
	resolver.Resolver
	name string
}

func (f tempFail) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if name == f.name {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	return f.Resolver.LookupTXT(ctx, name)
}

func TestSPF(t *testing.T) {
	z := spfZone(t,
		`a.test TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:inc.test -all"`,
		`inc.test TXT "v=spf1 a:host.inc.test mx ~all"`,
		`host.inc.test A 198.51.100.7`,
		`inc.test MX 10 mx.inc.test`,
		`mx.inc.test A 203.0.113.5`,
		`redir.test TXT "v=spf1 redirect=a.test"`,
		`cidr.test TXT "v=spf1 a/24 -all"`,
		`cidr.test A 198.51.100.1`,
		`macro.test TXT "v=spf1 exists:%{ir}.%{l1r-}.allow.macro.test -all"`,
		`5.2.0.192.bob.allow.macro.test A 127.0.0.2`,
		`two.test TXT "v=spf1 -all"`,
		`two.test TXT "v=spf1 +all"`,
		`bad.test TXT "v=spf1 frobnicate -all"`,
		`neutral.test TXT "v=spf1 ?all"`,
		`plain.test TXT "some other text"`,
		`void.test TXT "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test -all"`,
		`loop.test TXT "v=spf1 include:loop.test -all"`,
		`incnone.test TXT "v=spf1 include:nothing.test -all"`,
		`temp.test TXT "v=spf1 include:broken.test -all"`,
	)
	many := []string{`many.test TXT "v=spf1`}
	for i := range 11 {
		many[0] += " a:h" + string(rune('a'+i)) + ".many.test"
	}
	many[0] += ` -all"`
	z2 := spfZone(t, many...)
	r := tempFail{Resolver: z, name: "broken.test"}
	tests := []struct {
		res    resolver.Resolver
		ip     string
		domain string
		sender string
		want   SPFResult
	}{
		{r, "192.0.2.5", "a.test", "x@a.test", SPFPass},
		{r, "2001:db8::1", "a.test", "x@a.test", SPFPass},
		{r, "::ffff:192.0.2.5", "a.test", "x@a.test", SPFPass}, // mapped v4 is v4
		{r, "198.51.100.7", "a.test", "x@a.test", SPFPass},     // include: a:host
		{r, "203.0.113.5", "a.test", "x@a.test", SPFPass},      // include: mx
		{r, "203.0.113.6", "a.test", "x@a.test", SPFFail},      // include softfails: no match, then -all
		{r, "203.0.113.6", "inc.test", "x@inc.test", SPFSoftFail},
		{r, "192.0.2.5", "redir.test", "x@redir.test", SPFPass},
		{r, "10.0.0.1", "redir.test", "x@redir.test", SPFFail},
		{r, "198.51.100.200", "cidr.test", "x@cidr.test", SPFPass},
		{r, "198.51.101.1", "cidr.test", "x@cidr.test", SPFFail},
		{r, "192.0.2.5", "macro.test", "bob@macro.test", SPFPass},
		{r, "192.0.2.5", "macro.test", "eve@macro.test", SPFFail},
		{r, "192.0.2.5", "two.test", "x@two.test", SPFPermError},
		{r, "192.0.2.5", "bad.test", "x@bad.test", SPFPermError},
		{r, "192.0.2.5", "neutral.test", "x@neutral.test", SPFNeutral},
		{r, "192.0.2.5", "plain.test", "x@plain.test", SPFNone},
		{r, "192.0.2.5", "absent.test", "x@absent.test", SPFNone},
		{r, "192.0.2.5", "nodots", "x@nodots", SPFNone},
		{r, "192.0.2.5", "void.test", "x@void.test", SPFPermError},
		{r, "192.0.2.5", "loop.test", "x@loop.test", SPFPermError},
		{r, "192.0.2.5", "incnone.test", "x@incnone.test", SPFPermError},
		{r, "192.0.2.5", "temp.test", "x@temp.test", SPFTempError},
		{r, "192.0.2.5", "broken.test", "x@broken.test", SPFTempError},
		{z2, "192.0.2.5", "many.test", "x@many.test", SPFPermError},
	}
	for _, tt := range tests {
		got, why := CheckSPF(context.Background(), tt.res, netip.MustParseAddr(tt.ip), tt.domain, tt.sender, "helo.test")
		if got != tt.want {
			t.Errorf("CheckSPF(%s, %s) = %s (%s), want %s", tt.ip, tt.domain, got, why, tt.want)
		}
	}
}

// RFC 7208 7.4's examples, with sender strong-bad@email.example.com and
// client 192.0.2.3 (and 2001:db8::cb01 for the IPv6 ones).
func TestSPFMacros(t *testing.T) {
	env := macroEnv{sender: "strong-bad@email.example.com", domain: "email.example.com",
		ip: netip.MustParseAddr("192.0.2.3"), helo: "mx.example.org"}
	tests := map[string]string{
		"%{s}":                              "strong-bad@email.example.com",
		"%{o}":                              "email.example.com",
		"%{d}":                              "email.example.com",
		"%{d4}":                             "email.example.com",
		"%{d3}":                             "email.example.com",
		"%{d2}":                             "example.com",
		"%{d1}":                             "com",
		"%{dr}":                             "com.example.email",
		"%{d2r}":                            "example.email",
		"%{l}":                              "strong-bad",
		"%{l-}":                             "strong.bad",
		"%{lr}":                             "strong-bad",
		"%{lr-}":                            "bad.strong",
		"%{l1r-}":                           "strong",
		"%{ir}.%{v}._spf.%{d2}":             "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":              "bad.strong.lp._spf.example.com",
		"%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
		"%%%_%-":                            "% %20",
	}
	for in, want := range tests {
		got, err := expandMacros(in, env, true)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	env.ip = netip.MustParseAddr("2001:db8::cb01")
	got, _ := expandMacros("%{ir}.%{v}._spf.%{d2}", env, true)
	if want := "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"; got != want {
		t.Errorf("IPv6 %%{ir} = %q, want %q", got, want)
	}
	for _, bad := range []string{"%", "%x", "%{", "%{z}", "%{d2x}", "%{}"} {
		if _, err := expandMacros(bad, env, true); err == nil {
			t.Errorf("expand(%q) accepted it", bad)
		}
	}
}

func TestParseSPF(t *testing.T) {
	good := []string{
		"v=spf1",
		"V=SPF1 -ALL",
		"v=spf1 a mx ptr ~all",
		"v=spf1 a:x.test/24//64 mx//48 ip4:10.0.0.0/8 ip6:::1 exists:%{i}.x.test redirect=x.test exp=e.x.test foo=bar",
	}
	for _, s := range good {
		if _, err := parseSPF(s); err != nil {
			t.Errorf("parseSPF(%q): %v", s, err)
		}
	}
	bad := []string{
		"v=spf10", "spf1 -all", "v=spf1 all:x", "v=spf1 include", "v=spf1 ip4:10.0.0.0/33",
		"v=spf1 ip4:::1", "v=spf1 ip6:10.0.0.1", "v=spf1 a/33", "v=spf1 a//129", "v=spf1 redirect=a.test redirect=b.test",
		"v=spf1 exists:%{q}", "v=spf1 -", "v=spf1 a/01",
	}
	for _, s := range bad {
		if _, err := parseSPF(s); err == nil {
			t.Errorf("parseSPF(%q) accepted it", s)
		}
	}
}

func FuzzParseSPF(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", "v=spf1 a:x.test/24//64 mx ip4:1.2.3.4/8 include:%{d2} redirect=x", "v=spf1 exists:%{ir}.%{l1r-}.x"} {
		f.Add(s)
	}
	env := macroEnv{sender: "a-b@c.d.test", domain: "c.d.test", ip: netip.MustParseAddr("192.0.2.1"), helo: "h"}
	f.Fuzz(func(t *testing.T, s string) {
		terms, err := parseSPF(s)
		if err != nil {
			return
		}
		for _, term := range terms {
			if term.mech != "" {
				if _, err := expandMacros(term.domain, env, true); err != nil {
					t.Errorf("parsed domain-spec %q does not expand: %v", term.domain, err)
				}
			}
		}
	})
}
