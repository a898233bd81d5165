package admin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"Example.TEST": "example.test", "example.test.": "example.test", "Пример.TEST": "xn--e1afmkfd.test",
		"xn--e1afmkfd.test": "xn--e1afmkfd.test", "a-b.c0.test": "a-b.c0.test", "localhost": "localhost",
		strings.Repeat("a", 63) + ".test": strings.Repeat("a", 63) + ".test",
	} {
		if got, err := Domain(in); err != nil || got != want {
			t.Errorf("Domain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, why := range map[string]string{
		"":                               "empty",
		"x..y":                           "empty label",
		"-foo":                           "hyphen",
		"foo-.test":                      "hyphen",
		strings.Repeat("a", 64) + ".ru":  "longer than 63",
		strings.Repeat("a.", 127) + "ru": "longer than 253",
		"a_b.test":                       `"_" is not allowed`,
		"a@b":                            `"@" is not allowed`,
		"a b.test":                       `" " is not allowed`,
		"192.0.2.1":                      "IP address",
		"xn--zz.test":                    "A-label",
		"пр..test":                       "empty label",
	} {
		_, err := Domain(in)
		var ae *Error
		if !errors.As(err, &ae) || ae.Kind != Invalid || !strings.Contains(err.Error(), why) {
			t.Errorf("Domain(%q) = %v; want an Invalid error about %q", in, err, why)
		}
	}
}

func TestAddress(t *testing.T) {
	if got, err := Address(" Ivan@Пример.test "); err != nil || got != "ivan@xn--e1afmkfd.test" {
		t.Errorf("Address = %q, %v", got, err)
	}
	for _, bad := range []string{"", "alice", "@example.test", "a..b@example.test", ".a@example.test", "a b@example.test",
		"alice@", "alice@x..y", strings.Repeat("a", 65) + "@example.test"} {
		if _, err := Address(bad); err == nil {
			t.Errorf("Address(%q) accepted", bad)
		}
	}
}

func FuzzDomain(f *testing.F) {
	for _, s := range []string{"example.test", "Пример.test", "x..y", "-a", "xn--e1afmkfd.test", "a.b.c."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Domain(s)
		if err != nil {
			return
		}
		// What is accepted is stable: checking it again changes nothing.
		again, err := Domain(d)
		if err != nil || again != d {
			t.Fatalf("Domain(%q) = %q, but Domain(%q) = %q, %v", s, d, d, again, err)
		}
	})
}

func newService(t *testing.T) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Service{Store: st}
}

func kind(err error) Kind {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return 0
}

func TestServiceErrorsAndRoleAliases(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	creds := store.Credentials{PasswordHash: "x"}
	if _, err := s.AddUser(ctx, "alice@example.test", creds); kind(err) != NotFound || err.Error() != "domain example.test does not exist (add it with: pochta domain add example.test)" {
		t.Fatalf("user in a missing domain: %v", err)
	}
	if _, err := s.AddDomain(ctx, "Example.TEST"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDomain(ctx, "example.test"); kind(err) != Exists || err.Error() != "domain example.test already exists" {
		t.Fatalf("domain twice: %v", err)
	}
	res, err := s.AddUser(ctx, "Alice@example.test", creds)
	if err != nil || strings.Join(res.RoleAliases, ",") != "postmaster@example.test,abuse@example.test" {
		t.Fatalf("first user: %+v %v", res, err)
	}
	if res, err := s.AddUser(ctx, "bob@example.test", creds); err != nil || len(res.RoleAliases) != 0 {
		t.Fatalf("second user: %+v %v", res, err)
	}
	if _, err := s.AddUser(ctx, "alice@example.test", creds); kind(err) != Exists || err.Error() != "user alice@example.test already exists" {
		t.Fatalf("user twice: %v", err)
	}
	if _, err := s.AddUser(ctx, "postmaster@example.test", creds); kind(err) != Exists || !strings.Contains(err.Error(), "is an alias") {
		t.Fatalf("user over an alias: %v", err)
	}
	if err := s.DeleteDomain(ctx, "example.test"); kind(err) != NotEmpty || err.Error() != "domain example.test still has 2 users and 2 aliases: delete them first" {
		t.Fatalf("delete a full domain: %v", err)
	}
	if err := s.SetQuota(ctx, "nobody@example.test", 1); kind(err) != NotFound || err.Error() != "user nobody@example.test does not exist" {
		t.Fatalf("quota of nobody: %v", err)
	}
	if err := s.SetQuota(ctx, "alice@example.test", -1); kind(err) != Invalid {
		t.Fatalf("negative quota: %v", err)
	}
	if err := s.AddAlias(ctx, "bob@example.test", []string{"alice@example.test"}); kind(err) != Exists {
		t.Fatalf("alias over a user: %v", err)
	}
	q := &Queue{Store: s.Store.(QueueStore)}
	if err := q.Drop(ctx, 7); kind(err) != NotFound || err.Error() != "queued message 7 does not exist" {
		t.Fatalf("drop: %v", err)
	}
	if err := q.Retry(ctx); err != nil {
		t.Fatalf("retry all of an empty queue: %v", err)
	}
}
