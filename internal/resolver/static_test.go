package resolver

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

const zone = `# test zone
b.test.            MX   20 backup.b.test
B.test             MX   10 mx.b.test.
mx.b.test          A    127.0.0.1
mx.b.test          AAAA ::1
null.test          MX   0 .
b.test             TXT  "v=spf1 ip4:127.0.0.1 " "-all"
sel._domainkey.b.test TXT v=DKIM1; k=ed25519; p=abc
`

func TestParseZone(t *testing.T) {
	ctx := context.Background()
	s, err := ParseZone(strings.NewReader(zone))
	if err != nil {
		t.Fatal(err)
	}
	mx, err := s.LookupMX(ctx, "b.TEST")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx.b.test." || mx[0].Pref != 10 || mx[1].Host != "backup.b.test." {
		t.Errorf("LookupMX = %v, %v", mx, err)
	}
	if mx, _ := s.LookupMX(ctx, "null.test"); len(mx) != 1 || mx[0].Host != "." {
		t.Errorf("null MX = %v, want host \".\"", mx)
	}
	v4, err := s.LookupNetIP(ctx, "ip4", "mx.b.test.")
	if err != nil || len(v4) != 1 || v4[0] != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("ip4 = %v, %v", v4, err)
	}
	all, _ := s.LookupNetIP(ctx, "ip", "mx.b.test")
	if len(all) != 2 {
		t.Errorf("ip = %v, want both families", all)
	}
	txt, err := s.LookupTXT(ctx, "b.test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 ip4:127.0.0.1 -all" {
		t.Errorf("TXT = %q, %v (quoted strings are joined)", txt, err)
	}
	if txt, _ := s.LookupTXT(ctx, "sel._domainkey.b.test"); len(txt) != 1 || txt[0] != "v=DKIM1; k=ed25519; p=abc" {
		t.Errorf("bare TXT = %q", txt)
	}
	_, err = s.LookupTXT(ctx, "nothing.test")
	if !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("unknown name: %v; want not found", err)
	}
	if _, err := s.LookupNetIP(ctx, "ip6", "nothing.test"); !IsNotFound(err) {
		t.Errorf("unknown host: %v", err)
	}
}

func TestParseZoneErrors(t *testing.T) {
	for _, bad := range []string{
		"b.test MX mx.b.test",
		"b.test A ::1",
		"b.test AAAA 127.0.0.1",
		"b.test CNAME x.test",
		"b.test TXT \"unterminated",
		"lonely",
	} {
		if _, err := ParseZone(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseZone(%q) accepted it", bad)
		}
	}
}
