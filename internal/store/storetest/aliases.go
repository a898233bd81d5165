package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

func testAliases(t *testing.T, s store.Store) {
	ctx := context.Background()
	account(t, s, "owner@example.org")
	if err := s.AddDomain(ctx, "other.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAlias(ctx, "Sales@Example.org", []string{"owner@example.org", "Remote@Far.example"}); err != nil {
		t.Fatalf("AddAlias: %v", err)
	}
	// Adding again merges targets, without duplicates.
	if err := s.AddAlias(ctx, "sales@example.org", []string{"owner@example.org", "x@other.example"}); err != nil {
		t.Fatalf("AddAlias again: %v", err)
	}
	if err := s.AddAlias(ctx, "@other.example", []string{"owner@example.org"}); err != nil {
		t.Fatalf("AddAlias catch-all: %v", err)
	}
	a, err := s.Alias(ctx, "SALES@example.org")
	want := []string{"owner@example.org", "remote@far.example", "x@other.example"}
	if err != nil || a.Address != "sales@example.org" || !slices.Equal(a.Targets, want) {
		t.Errorf("Alias = %+v, %v; want targets %q", a, err, want)
	}
	all, err := s.ListAliases(ctx, "")
	if err != nil || len(all) != 2 || all[0].Address != "@other.example" || all[1].Address != "sales@example.org" {
		t.Errorf("ListAliases() = %+v, %v", all, err)
	}
	one, err := s.ListAliases(ctx, "OTHER.example")
	if err != nil || len(one) != 1 || one[0].Address != "@other.example" {
		t.Errorf("ListAliases(other.example) = %+v, %v", one, err)
	}

	wantErr(t, "AddAlias in an unknown domain", s.AddAlias(ctx, "a@nowhere.example", []string{"owner@example.org"}), store.ErrNotFound)
	wantErr(t, "AddAlias over an account", s.AddAlias(ctx, "owner@example.org", []string{"x@y.example"}), store.ErrExists)
	wantErr(t, "AddAlias without targets", s.AddAlias(ctx, "b@example.org", nil), store.ErrInvalid)
	wantErr(t, "AddAlias to itself", s.AddAlias(ctx, "b@example.org", []string{"B@example.org"}), store.ErrInvalid)
	wantErr(t, "AddAlias to a bad target", s.AddAlias(ctx, "b@example.org", []string{"no-at-sign"}), store.ErrInvalid)
	_, err = s.Alias(ctx, "nobody@example.org")
	wantErr(t, "Alias of a non-alias", err, store.ErrNotFound)
	wantErr(t, "DeleteDomain with an alias", s.DeleteDomain(ctx, "other.example"), store.ErrExists)

	if err := s.DeleteAlias(ctx, "sales@example.org", []string{"REMOTE@far.example"}); err != nil {
		t.Fatalf("DeleteAlias one target: %v", err)
	}
	if a, _ := s.Alias(ctx, "sales@example.org"); len(a.Targets) != 2 {
		t.Errorf("after deleting one target: %+v", a)
	}
	wantErr(t, "DeleteAlias of an absent target", s.DeleteAlias(ctx, "sales@example.org", []string{"remote@far.example"}), store.ErrNotFound)
	if err := s.DeleteAlias(ctx, "sales@example.org", nil); err != nil {
		t.Fatalf("DeleteAlias: %v", err)
	}
	_, err = s.Alias(ctx, "sales@example.org")
	wantErr(t, "Alias after DeleteAlias", err, store.ErrNotFound)
	wantErr(t, "DeleteAlias twice", s.DeleteAlias(ctx, "sales@example.org", nil), store.ErrNotFound)
	if err := s.DeleteAlias(ctx, "@other.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDomain(ctx, "other.example"); err != nil {
		t.Errorf("DeleteDomain once its aliases are gone: %v", err)
	}
}
