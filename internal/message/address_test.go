package message

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	mb := func(name, mailbox, host string) ListedAddress {
		return ListedAddress{Kind: AddressMailbox, Address: Address{Name: name, Mailbox: mailbox, Host: host}}
	}
	start := func(name string) ListedAddress {
		return ListedAddress{Kind: AddressGroupStart, Address: Address{Name: name}}
	}
	end := ListedAddress{Kind: AddressGroupEnd}
	tests := []struct {
		in   string
		want []ListedAddress
	}{
		{"", nil},
		{"ann@example.org", []ListedAddress{mb("", "ann", "example.org")}},
		{"Ann Example <ann@example.org>", []ListedAddress{mb("Ann Example", "ann", "example.org")}},
		{`"Example, Ann" <ann@example.org>`, []ListedAddress{mb("Example, Ann", "ann", "example.org")}},
		{`"a \"quoted\" name" <a@b>`, []ListedAddress{mb(`a "quoted" name`, "a", "b")}},
		{"<user (comment)@ (comment) domain.org>", []ListedAddress{mb("", "user", "domain.org")}},
		{"user (c) @ (d) domain . org", []ListedAddress{mb("d", "user", "domain.org")}},
		{"ann@example.org (Ann (the) Example)", []ListedAddress{mb("Ann (the) Example", "ann", "example.org")}},
		{"(Before) ann@example.org", []ListedAddress{mb("Before", "ann", "example.org")}},
		{"grace (comment) @ (another) example.test, b@x", []ListedAddress{mb("another", "grace", "example.test"), mb("", "b", "x")}},
		{"John Q. Public <jqp@x.org>", []ListedAddress{mb("John Q. Public", "jqp", "x.org")}},
		{"=?utf-8?q?J=C3=B6rg?= <j@x.org>", []ListedAddress{mb("Jörg", "j", "x.org")}},
		{"=?utf-8?q?a?= =?utf-8?q?b?= <j@x.org>", []ListedAddress{mb("ab", "j", "x.org")}},
		{"<@r1.org,@r2.org:user@domain.org>", []ListedAddress{mb("", "user", "domain.org")}},
		{`"john doe"@x.org`, []ListedAddress{mb("", "john doe", "x.org")}},
		{"user@[192.0.2.1]", []ListedAddress{mb("", "user", "[192.0.2.1]")}},
		{"a@x, b@y,, c@z", []ListedAddress{mb("", "a", "x"), mb("", "b", "y"), mb("", "c", "z")}},
		{"root", []ListedAddress{mb("", "root", "")}},
		{"friends: a@x, B <b@y>;, c@z", []ListedAddress{start("friends"), mb("", "a", "x"), mb("B", "b", "y"), end, mb("", "c", "z")}},
		{"undisclosed-recipients:;", []ListedAddress{start("undisclosed-recipients"), end}},
		{"grp: a@x", []ListedAddress{start("grp"), mb("", "a", "x"), end}},
		{"Ann <ann@x", []ListedAddress{mb("Ann", "ann", "x")}},
		{"(only a comment)", nil},
		{"<a@x> trailing junk, b@y", []ListedAddress{mb("", "a", "x"), mb("", "b", "y")}},
	}
	for _, tt := range tests {
		if got := ParseAddressList(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseAddressList(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
		}
	}
}

func TestAddressText(t *testing.T) {
	for in, want := range map[string]string{
		"Ann <ann@x.org>, bob@y.org":      "Ann <ann@x.org>, <bob@y.org>",
		"friends: a@x, b@y;, c@z":         "friends: <a@x>, <b@y>;, <c@z>",
		"<user (c)@ (c) domain.org>":      "<user@domain.org>",
		"(just a comment)":                "(just a comment)",
		"=?utf-8?q?J=C3=B6rg?= <j@x.org>": "Jörg <j@x.org>",
	} {
		if got := addressText(in); got != want {
			t.Errorf("addressText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseAddressList: any input parses (no panic) in linear time, and
// no mailbox has an empty mailbox and host and name at once.
func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"a@b", "A <a@b>", "g: a@b, c@d;", "<@r:a@b>", `"q\"" (c (n)) <x@[y]>`, strings.Repeat("(", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range ParseAddressList(s) {
			if a.Kind == AddressMailbox && a.Name == "" && a.Mailbox == "" && a.Host == "" {
				t.Fatalf("empty mailbox from %q", s)
			}
		}
		_ = addressText(s)
	})
}
