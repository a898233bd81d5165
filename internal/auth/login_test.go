package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeLogin(t *testing.T) {
	withDefault := New(Options{DefaultDomain: "Example.ORG", Separators: "+%"})
	noDefault := New(Options{Separators: "+%"})
	noSeparators := New(Options{DefaultDomain: "example.org"})
	for _, c := range []struct {
		s     *Service
		login string
		want  string // "" = refused
	}{
		{withDefault, "User@Example.COM", "user@example.com"},
		{withDefault, "user@localhost", "user@localhost"},
		{withDefault, "user", "user@example.org"},
		{withDefault, "user+example.com", "user@example.com"},
		{withDefault, "user%example.com", "user@example.com"},
		{withDefault, "USER%Mail.Example.Com", "user@mail.example.com"},
		// '@' always wins over separators: the +tag stays in the local part.
		{withDefault, "first+tag@example.com", "first+tag@example.com"},
		{withDefault, "first%tag@example.com", "first%tag@example.com"},
		// The last separator followed by a domain splits.
		{withDefault, "first+tag+example.com", "first+tag@example.com"},
		{withDefault, "first+tag%example.com", "first+tag@example.com"},
		// A separator not followed by a domain is part of the name.
		{withDefault, "john+smith", "john+smith@example.org"},
		{withDefault, "a+b.c+d", "a+b.c+d@example.org"},
		{withDefault, "a+example..com", "a+example..com@example.org"},
		{noSeparators, "user+example.com", "user+example.com@example.org"},
		{noDefault, "user", ""},
		{noDefault, "john+smith", ""},
		{noDefault, "user+example.com", "user@example.com"},
		{withDefault, "", ""},
		{withDefault, " user", ""},
		{withDefault, "user ", ""},
		{withDefault, "us er", ""},
		{withDefault, "user\t", ""},
		{withDefault, "user\x00", ""},
		{withDefault, "user\x7f", ""},
		{withDefault, "user\u00a0", ""},
		{withDefault, "user\u0085", ""},
		{withDefault, "\xff\xfe", ""},
		{withDefault, "@example.com", ""},
		{withDefault, "user@", ""},
		{withDefault, "a@b@example.com", ""},
		{withDefault, "user@exa_mple.com", ""},
		{withDefault, "user@.com", ""},
		{withDefault, "+example.com", "+example.com@example.org"},
		{withDefault, strings.Repeat("a", 243) + "@example.com", strings.Repeat("a", 243) + "@example.com"},
		{withDefault, strings.Repeat("a", 244) + "@example.com", ""},
		{withDefault, "Ünïcode@Bücher.example", "ünïcode@bücher.example"},
	} {
		got, err := c.s.NormalizeLogin(c.login)
		if c.want == "" {
			if err == nil || !errors.Is(err, ErrFailed) {
				t.Errorf("NormalizeLogin(%q) = %q, %v; want ErrFailed", c.login, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeLogin(%q) = %q, %v; want %q", c.login, got, err, c.want)
		}
	}
}
