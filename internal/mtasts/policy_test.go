package mtasts

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := []struct {
		name, text string
		want       Policy
	}{
		{"rfc example", "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
			Policy{Mode: ModeEnforce, MX: []string{"mail.example.com", "*.example.net", "backupmx.example.com"}, MaxAge: 604800 * time.Second}},
		{"LF only, unknown key, spaces", "version: STSv1\nmode:testing\nfoo: bar\nmx:  MX.Example.COM. \nmax_age: 86400", Policy{Mode: ModeTesting, MX: []string{"mx.example.com"}, MaxAge: 86400 * time.Second}},
		{"none needs no mx", "version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", Policy{Mode: ModeNone}},
		{"max_age capped", "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 9999999999", Policy{Mode: ModeEnforce, MX: []string{"a.test"}, MaxAge: maxMaxAge}},
	}
	for _, tc := range good {
		p, err := Parse(tc.text)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if p.Mode != tc.want.Mode || p.MaxAge != tc.want.MaxAge || strings.Join(p.MX, ",") != strings.Join(tc.want.MX, ",") {
			t.Errorf("%s: got %+v, want %+v", tc.name, p, tc.want)
		}
	}
	for name, text := range map[string]string{
		"empty":       "",
		"no version":  "mode: enforce\nmx: a.test\nmax_age: 1",
		"bad version": "version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1",
		"bad mode":    "version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1",
		"no mx":       "version: STSv1\nmode: enforce\nmax_age: 1",
		"no max_age":  "version: STSv1\nmode: enforce\nmx: a.test",
		"bad max_age": "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1",
		"no colon":    "version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1",
		"html":        "<html><body>hello</body></html>",
		"too large":   "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n" + strings.Repeat("x: y\n", MaxPolicySize/5),
	} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRoundTripAndID(t *testing.T) {
	p := Policy{Mode: ModeTesting, MX: []string{"mail.example.test"}, MaxAge: 7 * 24 * time.Hour}
	q, err := Parse(p.Text())
	if err != nil || q.Mode != p.Mode || q.MaxAge != p.MaxAge || q.MX[0] != p.MX[0] {
		t.Fatalf("round trip: %+v, %v", q, err)
	}
	id := p.ID()
	if len(id) < 1 || len(id) > 32 || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q is not 1-32 alphanumerics", id)
	}
	p.Mode = ModeEnforce
	if p.ID() == id {
		t.Fatal("id did not change with the policy")
	}
}

func TestMatches(t *testing.T) {
	p := Policy{MX: []string{"mail.example.com", "*.example.net"}}
	for host, want := range map[string]bool{
		"mail.example.com": true, "MAIL.example.com.": true, "other.example.com": false,
		"mx1.example.net": true, "example.net": false, "a.b.example.net": false, "": false,
	} {
		if got := p.Matches(host); got != want {
			t.Errorf("Matches(%q) = %v, want %v", host, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmax_age: 604800\r\n")
	f.Add("version: STSv1\nmode: none\nmax_age: 0")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := Parse(text)
		if err != nil {
			return
		}
		// What parses must survive writing and parsing again.
		q, err := Parse(p.Text())
		if err != nil || q.Mode != p.Mode || q.MaxAge.Truncate(time.Second) != p.MaxAge.Truncate(time.Second) {
			t.Fatalf("round trip of %q: %+v %v", text, q, err)
		}
	})
}
