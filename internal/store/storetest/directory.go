package storetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func testDomains(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, d := range []string{"Example.ORG", "b.example"} {
		if err := s.AddDomain(ctx, d); err != nil {
			t.Fatalf("AddDomain(%q): %v", d, err)
		}
	}
	wantErr(t, "AddDomain duplicate in other case", s.AddDomain(ctx, "EXAMPLE.org"), store.ErrExists)
	ds, err := s.Domains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Name)
		if d.Created.IsZero() {
			t.Errorf("domain %q has no Created time", d.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"b.example", "example.org"}) {
		t.Errorf("Domains = %q, want lower-case b.example and example.org", names)
	}

	if d, err := s.Domain(ctx, "EXAMPLE.org"); err != nil || d.Name != "example.org" || d.Created.IsZero() {
		t.Errorf("Domain(EXAMPLE.org) = %+v, %v", d, err)
	}
	_, err = s.Domain(ctx, "nowhere.example")
	wantErr(t, "Domain unknown", err, store.ErrNotFound)
	wantErr(t, "DeleteDomain unknown", s.DeleteDomain(ctx, "nowhere.example"), store.ErrNotFound)
	if _, err := s.CreateAccount(ctx, "u@example.org", store.Credentials{}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteDomain with an account", s.DeleteDomain(ctx, "example.org"), store.ErrExists)
	if err := s.DeleteAccount(ctx, "u@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "Example.Org"); err != nil {
		t.Fatalf("DeleteDomain after its last account went: %v", err)
	}
	ds, _ = s.Domains(ctx)
	if len(ds) != 1 || ds[0].Name != "b.example" {
		t.Errorf("Domains after delete = %v, want only b.example", ds)
	}
}

func testAccounts(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.CreateAccount(ctx, "u@nowhere.example", store.Credentials{})
	wantErr(t, "CreateAccount in unknown domain", err, store.ErrNotFound)
	for _, d := range []string{"example.org", "b.example"} {
		if err := s.AddDomain(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	creds := store.Credentials{PasswordHash: "$argon2id$x", SCRAMSHA256: "scram", LegacySecret: "legacy"}
	a, err := s.CreateAccount(ctx, "Alice@Example.ORG", creds)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Address != "alice@example.org" || a.Domain != "example.org" || a.Credentials != creds || a.Created.IsZero() {
		t.Errorf("CreateAccount = %+v, want lower-case address, its domain, the credentials and an id", a)
	}
	_, err = s.CreateAccount(ctx, "ALICE@example.org", store.Credentials{})
	wantErr(t, "CreateAccount duplicate in other case", err, store.ErrExists)
	if _, err := s.CreateAccount(ctx, "bob@b.example", store.Credentials{}); err != nil {
		t.Fatal(err)
	}

	got, err := s.Account(ctx, "aLiCe@EXAMPLE.org")
	if err != nil || got.ID != a.ID || got.Address != a.Address || got.Credentials != creds || got.Domain != "example.org" {
		t.Errorf("Account (other case) = %+v, %v; want %+v", got, err, a)
	}
	_, err = s.Account(ctx, "nobody@example.org")
	wantErr(t, "Account unknown", err, store.ErrNotFound)

	newCreds := store.Credentials{PasswordHash: "new"}
	if err := s.SetCredentials(ctx, "ALICE@example.org", newCreds); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(ctx, "alice@example.org"); got.Credentials != newCreds {
		t.Errorf("after SetCredentials: %+v, want %+v", got.Credentials, newCreds)
	}
	wantErr(t, "SetCredentials unknown", s.SetCredentials(ctx, "nobody@example.org", newCreds), store.ErrNotFound)

	addresses := func(domain string) []string {
		t.Helper()
		as, err := s.Accounts(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.Address)
		}
		slices.Sort(out)
		return out
	}
	if got := addresses(""); !slices.Equal(got, []string{"alice@example.org", "bob@b.example"}) {
		t.Errorf("Accounts(\"\") = %q", got)
	}
	if got := addresses("B.example"); !slices.Equal(got, []string{"bob@b.example"}) {
		t.Errorf("Accounts(b.example) = %q", got)
	}

	if err := s.DeleteAccount(ctx, "Alice@example.org"); err != nil {
		t.Fatal(err)
	}
	_, err = s.Account(ctx, "alice@example.org")
	wantErr(t, "Account after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteAccount twice", s.DeleteAccount(ctx, "alice@example.org"), store.ErrNotFound)
	if got := addresses(""); !slices.Equal(got, []string{"bob@b.example"}) {
		t.Errorf("Accounts after delete = %q", got)
	}
}

func testInvalidNames(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, d := range []string{"", "a b.example", "a@b.example"} {
		wantErr(t, "AddDomain("+d+")", s.AddDomain(ctx, d), store.ErrInvalid)
	}
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"", "nobody", "@example.org", "a b@example.org"} {
		_, err := s.CreateAccount(ctx, a, store.Credentials{})
		wantErr(t, "CreateAccount("+a+")", err, store.ErrInvalid)
	}
}

func testDeleteAccountRemovesMail(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "gone@example.org")
	b := account(t, s, "stays@example.org")
	deliver(t, s, msgBody(1), a, b)
	deliver(t, s, msgBody(2), a)
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	_, err := s.OpenMaildrop(ctx, a.ID)
	wantErr(t, "OpenMaildrop of a deleted account", err, store.ErrNotFound)
	err = s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}}, Body: strings.NewReader("x\r\n")})
	wantErr(t, "Deliver to a deleted account", err, store.ErrNotFound)
	if got := bodies(t, s, b); len(got) != 1 || got[0] != msgBody(1) {
		t.Errorf("the other recipient's copy after DeleteAccount: %q", got)
	}
	again := account(t, s, "gone@example.org")
	if again.ID == a.ID {
		t.Errorf("re-created account reuses id %d", a.ID)
	}
	if got := bodies(t, s, again); len(got) != 0 {
		t.Errorf("re-created account inherited %d messages", len(got))
	}
}

func testRecordLogins(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.org", "bob@example.org"} {
		if _, err := s.CreateAccount(ctx, a, store.Credentials{}); err != nil {
			t.Fatal(err)
		}
	}
	if a, _ := s.Account(ctx, "alice@example.org"); !a.LastLogin.IsZero() {
		t.Fatalf("new account has LastLogin %v", a.LastLogin)
	}
	t1 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	if err := s.RecordLogins(ctx, map[string]time.Time{"Alice@Example.ORG": t1, "nobody@example.org": t1}); err != nil {
		t.Fatal(err)
	}
	// An older time never moves it back (batches may arrive out of order).
	if err := s.RecordLogins(ctx, map[string]time.Time{"alice@example.org": t1.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	as, err := s.Accounts(ctx, "example.org")
	if err != nil || len(as) != 2 {
		t.Fatalf("Accounts: %v %v", as, err)
	}
	if !as[0].LastLogin.Equal(t1) || !as[1].LastLogin.IsZero() {
		t.Errorf("LastLogin alice %v bob %v; want %v and never", as[0].LastLogin, as[1].LastLogin, t1)
	}
}
