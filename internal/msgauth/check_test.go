package msgauth

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/resolver"
)

const testMail = "From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: signed\r\nDate: Mon, 2 Jan 2026 10:00:00 +0000\r\nMessage-ID: <1@a.test>\r\n\r\nHello Bob.\r\n"

// keysAndZone makes an RSA and an Ed25519 key for a.test and a zone that
// publishes them, with SPF and DMARC records.
func keysAndZone(t *testing.T, dmarc string) ([]Key, *resolver.Static) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dkim")
	var keys []Key
	z := resolver.NewStatic()
	for _, k := range []struct{ sel, algo string }{{"ed", AlgoEd25519}, {"rsa", AlgoRSA}} {
		key, err := GenerateKey(dir, "A.test", k.sel, k.algo)
		if err != nil {
			t.Fatal(err)
		}
		name, text := key.Record()
		if err := z.Add(name, "TXT", text); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	z.Add("a.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all")
	z.Add("_dmarc.a.test", "TXT", dmarc)
	loaded, err := LoadKeys(dir)
	if err != nil || len(loaded) != 2 || loaded[0].Domain != "a.test" || loaded[0].Selector != "ed" {
		t.Fatalf("LoadKeys = %+v, %v", loaded, err)
	}
	if _, err := GenerateKey(dir, "a.test", "ed", AlgoEd25519); err == nil {
		t.Errorf("GenerateKey overwrote an existing key")
	}
	if fi, err := os.Stat(filepath.Join(dir, "a.test", "rsa.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	return loaded, z
}

func sign(t *testing.T, keys []Key, msg string) string {
	t.Helper()
	sig, err := NewSigner(keys).Sign(context.Background(), strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	return sig + msg
}

func check(t *testing.T, z resolver.Resolver, ip, from, msg string) Verdict {
	t.Helper()
	c := &Checker{Resolver: z, AuthServID: "mx.b.test"}
	v, err := c.Check(context.Background(), Input{RemoteIP: netip.MustParseAddr(ip), Helo: "mail.a.test", MailFrom: from},
		bytes.NewReader([]byte(msg)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSignAndVerify(t *testing.T) {
	keys, z := keysAndZone(t, "v=DMARC1; p=reject")
	signed := sign(t, keys, testMail)
	if n := strings.Count(signed, "DKIM-Signature:"); n != 2 {
		t.Fatalf("%d signatures, want an Ed25519 and an RSA one:\n%s", n, signed)
	}
	if !strings.Contains(signed, "a=ed25519-sha256") || !strings.Contains(signed, "a=rsa-sha256") {
		t.Errorf("signature algorithms missing:\n%s", signed)
	}
	v := check(t, z, "192.0.2.1", "alice@a.test", signed)
	if v.SPF != SPFPass || len(v.DKIM) != 2 || v.DKIM[0].Result != "pass" || v.DKIM[1].Result != "pass" || v.DMARC.Result != "pass" {
		t.Errorf("verdict = %+v; want spf, both dkim and dmarc pass", v)
	}
	for _, want := range []string{"Authentication-Results: mx.b.test;", "spf=pass", "dkim=pass", "header.d=a.test", "dmarc=pass", "header.from=a.test"} {
		if !strings.Contains(v.Header, want) {
			t.Errorf("header lacks %q:\n%s", want, v.Header)
		}
	}
	if !strings.HasSuffix(v.Header, "\r\n") || strings.Contains(strings.TrimSuffix(v.Header, "\r\n"), "\r\n ") {
		t.Errorf("header not a well-folded field: %q", v.Header)
	}

	// A changed body breaks DKIM; SPF from elsewhere fails: DMARC fails
	// with the domain's reject policy.
	tampered := strings.Replace(signed, "Hello Bob.", "Send money.", 1)
	v = check(t, z, "203.0.113.9", "alice@a.test", tampered)
	if v.SPF != SPFFail || v.DKIM[0].Result != "fail" || v.DMARC.Result != "fail" || v.DMARC.Policy != "reject" {
		t.Errorf("tampered verdict = %+v; want spf fail, dkim fail, dmarc fail with p=reject", v)
	}
	// SPF alone (aligned) passes DMARC.
	v = check(t, z, "192.0.2.1", "bounce@a.test", testMail)
	if v.DMARC.Result != "pass" || len(v.DKIM) != 0 || !strings.Contains(v.Header, "dkim=none") {
		t.Errorf("unsigned from an SPF-permitted host: %+v", v)
	}
}

func TestDMARCAlignmentAndOrgDomain(t *testing.T) {
	keys, z := keysAndZone(t, "v=DMARC1; p=quarantine; sp=reject; adkim=s")
	z.Add("news.a.test", "TXT", "v=spf1 ip4:198.51.100.0/24 -all")
	// From a subdomain: no _dmarc.news.a.test, so a.test's record applies
	// with its sp=. The DKIM d=a.test is not strictly aligned with
	// news.a.test; SPF for news.a.test is (relaxed aspf).
	msg := strings.Replace(testMail, "alice@a.test", "alice@news.a.test", 1)
	signed := sign(t, keys, testMail) // signature over the a.test From...
	signed = strings.Replace(signed, "From: Alice <alice@a.test>", "From: Alice <alice@news.a.test>", 1)
	v := check(t, z, "203.0.113.9", "x@elsewhere.test", signed)
	if v.DMARC.Result != "fail" || v.DMARC.Policy != "reject" || v.DMARC.Domain != "news.a.test" {
		t.Errorf("subdomain verdict = %+v; want fail under sp=reject", v.DMARC)
	}
	v = check(t, z, "198.51.100.1", "bounce@news.a.test", msg)
	if v.SPF != SPFPass || v.DMARC.Result != "pass" {
		t.Errorf("aligned SPF on the subdomain = %+v", v)
	}
	if aligned("mail.a.test", "a.test", "s") || !aligned("mail.a.test", "a.test", "r") || aligned("a.test", "b.test", "r") {
		t.Errorf("aligned() wrong")
	}
	// No DMARC record anywhere: none.
	v = check(t, z, "192.0.2.1", "x@b.example", strings.Replace(testMail, "alice@a.test", "x@b.example", 1))
	if v.DMARC.Result != "none" {
		t.Errorf("no record: %+v", v.DMARC)
	}
}

func TestSignSkipsForeignDomains(t *testing.T) {
	keys, _ := keysAndZone(t, "v=DMARC1; p=none")
	sig, err := NewSigner(keys).Sign(context.Background(), strings.NewReader(strings.Replace(testMail, "a.test>", "other.test>", 1)))
	if err != nil || sig != "" {
		t.Errorf("Sign for a domain without keys = %q, %v; want nothing", sig, err)
	}
	if NewSigner(nil) != nil {
		t.Errorf("NewSigner(nil) should be nil: no keys, no signing")
	}
}

func TestRecordFormats(t *testing.T) {
	keys, _ := keysAndZone(t, "v=DMARC1; p=none")
	name, text := keys[0].Record()
	if name != "ed._domainkey.a.test" || !strings.HasPrefix(text, "v=DKIM1; k=ed25519; p=") || len(text) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Errorf("ed25519 record %s %q", name, text)
	}
	_, text = keys[1].Record()
	if !strings.HasPrefix(text, "v=DKIM1; k=rsa; p=MIIBIjAN") {
		t.Errorf("rsa record %q; want a 2048-bit SubjectPublicKeyInfo", text)
	}
}

func TestHeaderValues(t *testing.T) {
	if got := value("alice@a.test"); got != `alice@a.test` {
		t.Errorf("value(addr) = %s; an address is a token", got)
	}
	if got := value("a b"); got != `"a b"` {
		t.Errorf("value with a space = %s", got)
	}
	if got := quote("say \"hi\"\\\r\n"); got != `"say \"hi\"\\  "` {
		t.Errorf("quote = %s", got)
	}
}
