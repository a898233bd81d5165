package resolver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Static answers from a fixed table and never touches the network: names
// it does not hold are "not found". It is for tests and for offline or
// lab installations (config key dns.zone_file), not for production mail.
//
// The zone file has one record a line, "name TYPE data":
//
//	b.test                      MX   10 mx.b.test
//	mx.b.test                   A    127.0.0.1
//	b.test                      TXT  "v=spf1 ip4:127.0.0.1 -all"
//	sel._domainkey.b.test       TXT  "v=DKIM1; k=ed25519; " "p=..."
//
// Names are case-insensitive, a trailing dot is optional, TXT data is one
// or more quoted strings joined together (or the bare rest of the line),
// and lines starting with # or ; are comments.
type Static struct {
	mx  map[string][]*net.MX
	ip  map[string][]netip.Addr
	txt map[string][]string
}

var _ Resolver = (*Static)(nil)

// NewStatic returns an empty table.
func NewStatic() *Static {
	return &Static{mx: map[string][]*net.MX{}, ip: map[string][]netip.Addr{}, txt: map[string][]string{}}
}

// LoadZone reads a zone file.
func LoadZone(path string) (*Static, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := ParseZone(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseZone reads zone-file text (see Static).
func ParseZone(r io.Reader) (*Static, error) {
	s := NewStatic()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("line %d: want \"name TYPE data\"", n)
		}
		data := strings.TrimSpace(line[strings.Index(line, f[1])+len(f[1]):])
		if err := s.Add(f[0], f[1], data); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	return s, sc.Err()
}

// Add adds one record; typ is MX, A, AAAA or TXT, data as in a zone file.
func (s *Static) Add(name, typ, data string) error {
	name = canonical(name)
	switch strings.ToUpper(typ) {
	case "MX":
		pref, host, ok := strings.Cut(strings.TrimSpace(data), " ")
		p, err := strconv.ParseUint(pref, 10, 16)
		if !ok || err != nil {
			return fmt.Errorf("MX %q: want \"preference host\"", data)
		}
		host = strings.TrimSpace(host)
		if host != "." {
			host = canonical(host) + "."
		}
		s.mx[name] = append(s.mx[name], &net.MX{Host: host, Pref: uint16(p)})
	case "A", "AAAA":
		a, err := netip.ParseAddr(data)
		if err != nil || a.Is4() != (strings.ToUpper(typ) == "A") {
			return fmt.Errorf("%s %q: not an address of that family", typ, data)
		}
		s.ip[name] = append(s.ip[name], a)
	case "TXT":
		txt, err := unquoteTXT(data)
		if err != nil {
			return err
		}
		s.txt[name] = append(s.txt[name], txt)
	default:
		return fmt.Errorf("record type %q: want MX, A, AAAA or TXT", typ)
	}
	return nil
}

// unquoteTXT joins the quoted strings of a TXT record's data, as DNS
// clients present a record split into several strings.
func unquoteTXT(data string) (string, error) {
	if !strings.HasPrefix(data, `"`) {
		return data, nil
	}
	var b strings.Builder
	for rest := strings.TrimSpace(data); rest != ""; rest = strings.TrimSpace(rest) {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return "", fmt.Errorf("TXT %s: bad quoting", data)
		}
		u, _ := strconv.Unquote(q)
		b.WriteString(u)
		rest = rest[len(q):]
	}
	return b.String(), nil
}

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
}

// LookupMX returns the table's MX records, sorted by preference.
func (s *Static) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	mx := s.mx[canonical(name)]
	if len(mx) == 0 {
		return nil, notFound(name)
	}
	out := append([]*net.MX(nil), mx...)
	slices.SortStableFunc(out, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
	return out, nil
}

// LookupNetIP returns the table's addresses of the network's family.
func (s *Static) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	var out []netip.Addr
	for _, a := range s.ip[canonical(host)] {
		if network == "ip" || (network == "ip4") == a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, notFound(host)
	}
	return out, nil
}

// LookupTXT returns the table's TXT records.
func (s *Static) LookupTXT(_ context.Context, name string) ([]string, error) {
	txt := s.txt[canonical(name)]
	if len(txt) == 0 {
		return nil, notFound(name)
	}
	return append([]string(nil), txt...), nil
}
