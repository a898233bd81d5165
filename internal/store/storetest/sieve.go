package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func scriptNames(t *testing.T, s store.Store, a store.Account) string {
	t.Helper()
	l, err := s.SieveScripts(context.Background(), a.ID)
	if err != nil {
		t.Fatalf("SieveScripts: %v", err)
	}
	var out []string
	for _, sc := range l {
		if sc.Source != "" {
			t.Errorf("SieveScripts lists %q with its source", sc.Name)
		}
		n := sc.Name
		if sc.Active {
			n += "*"
		}
		out = append(out, n)
	}
	return strings.Join(out, " ")
}

func testSieveScripts(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "sieve@example.org")
	b := account(t, s, "other@example.org")
	if _, err := s.ActiveSieveScript(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveSieveScript of a new account = %v, want ErrNotFound", err)
	}
	put := func(acc store.Account, name, src string) {
		t.Helper()
		if err := s.PutSieveScript(ctx, acc.ID, name, src); err != nil {
			t.Fatalf("PutSieveScript(%q): %v", name, err)
		}
	}
	put(a, "vacation", "keep;")
	put(a, "Vacation", "discard;") // names are case-sensitive
	put(a, "filters €", `fileinto "x";`)
	put(b, "vacation", "stop;")
	if got := scriptNames(t, s, a); got != "Vacation filters € vacation" {
		t.Errorf("scripts = %q", got)
	}
	sc, err := s.SieveScript(ctx, a.ID, "filters €")
	if err != nil || sc.Source != `fileinto "x";` || sc.Size != int64(len(`fileinto "x";`)) || sc.Active || sc.Updated.IsZero() {
		t.Errorf("SieveScript = %+v, %v", sc, err)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, "vacation"); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, "filters €"); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "Vacation filters €* vacation" {
		t.Errorf("after two activations: %q, want only the last active", got)
	}
	put(a, "filters €", "keep;") // replacing keeps it active
	if sc, err := s.ActiveSieveScript(ctx, a.ID); err != nil || sc.Name != "filters €" || sc.Source != "keep;" || !sc.Active {
		t.Errorf("ActiveSieveScript = %+v, %v", sc, err)
	}
	if sc, err := s.ActiveSieveScript(ctx, b.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActiveSieveScript of the other account = %+v, %v", sc, err)
	}
	wantErr(t, "activate unknown", s.ActivateSieveScript(ctx, a.ID, "nope"), store.ErrNotFound)
	wantErr(t, "delete active", s.DeleteSieveScript(ctx, a.ID, "filters €"), store.ErrInvalid)
	wantErr(t, "delete unknown", s.DeleteSieveScript(ctx, a.ID, "nope"), store.ErrNotFound)
	wantErr(t, "rename onto existing", s.RenameSieveScript(ctx, a.ID, "vacation", "Vacation"), store.ErrExists)
	wantErr(t, "rename unknown", s.RenameSieveScript(ctx, a.ID, "nope", "x"), store.ErrNotFound)
	wantErr(t, "rename to invalid", s.RenameSieveScript(ctx, a.ID, "vacation", "a\nb"), store.ErrInvalid)
	for _, bad := range []string{"", "tab\there", "del\x7f", strings.Repeat("x", store.MaxSieveScriptName+1), "\xff"} {
		wantErr(t, "put "+bad, s.PutSieveScript(ctx, a.ID, bad, "keep;"), store.ErrInvalid)
	}
	wantErr(t, "put for unknown account", s.PutSieveScript(ctx, a.ID+b.ID+1000, "x", "keep;"), store.ErrNotFound)
	if err := s.RenameSieveScript(ctx, a.ID, "filters €", "main"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSieveScript(ctx, a.ID, "Vacation"); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "main* vacation" {
		t.Errorf("after rename and delete: %q", got)
	}
	if err := s.ActivateSieveScript(ctx, a.ID, ""); err != nil {
		t.Fatal(err)
	}
	if got := scriptNames(t, s, a); got != "main vacation" {
		t.Errorf("after deactivation: %q", got)
	}
	if err := s.DeleteSieveScript(ctx, a.ID, "main"); err != nil {
		t.Errorf("deleting a deactivated script: %v", err)
	}
	// Deleting the account deletes its scripts.
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	a = account(t, s, a.Address)
	if got := scriptNames(t, s, a); got != "" {
		t.Errorf("re-created account has scripts %q", got)
	}
}

// testSieveVersion: Account.SieveVersion, the key of the delivery
// filter's compiled scripts, changes with every change to the account's
// scripts, and never comes back to a value a cached script was compiled
// under, even for an account created again with the same address.
func testSieveVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "version@example.org")
	b := account(t, s, "version-other@example.org")
	version := func(acc store.Account) int64 {
		t.Helper()
		got, err := s.Account(ctx, acc.Address)
		if err != nil {
			t.Fatalf("Account(%q): %v", acc.Address, err)
		}
		if got.SieveVersion == 0 {
			t.Fatalf("Account(%q).SieveVersion = 0, want a value from the store", acc.Address)
		}
		return got.SieveVersion
	}
	if a.SieveVersion == 0 || a.SieveVersion != version(a) {
		t.Errorf("CreateAccount's SieveVersion %d, Account's %d", a.SieveVersion, version(a))
	}
	seen := map[int64]string{version(a): "new account"}
	bBefore := version(b)
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		v := version(a)
		if prev, ok := seen[v]; ok {
			t.Errorf("after %s SieveVersion is %d, as after %s", what, v, prev)
		}
		seen[v] = what
	}
	step("put", s.PutSieveScript(ctx, a.ID, "main", "keep;"))
	step("activate", s.ActivateSieveScript(ctx, a.ID, "main"))
	step("replace the active script", s.PutSieveScript(ctx, a.ID, "main", "discard;"))
	step("put another", s.PutSieveScript(ctx, a.ID, "other", "stop;"))
	step("activate the other", s.ActivateSieveScript(ctx, a.ID, "other"))
	step("rename", s.RenameSieveScript(ctx, a.ID, "other", "renamed"))
	step("deactivate", s.ActivateSieveScript(ctx, a.ID, ""))
	step("delete", s.DeleteSieveScript(ctx, a.ID, "main"))
	if got := version(b); got != bBefore {
		t.Errorf("the other account's SieveVersion went from %d to %d", bBefore, got)
	}
	// A failed change leaves it.
	before := version(a)
	wantErr(t, "activate unknown", s.ActivateSieveScript(ctx, a.ID, "nope"), store.ErrNotFound)
	if got := version(a); got != before {
		t.Errorf("a refused activation changed SieveVersion from %d to %d", before, got)
	}
	// An account deleted and created again starts with no script, and
	// its first script gets a version its predecessor never had.
	step("put before deleting the account", s.PutSieveScript(ctx, a.ID, "main", "keep;"))
	step("activate before deleting the account", s.ActivateSieveScript(ctx, a.ID, "main"))
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	a = account(t, s, a.Address)
	if _, err := s.ActiveSieveScript(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("re-created account: ActiveSieveScript %v, want ErrNotFound", err)
	}
	delete(seen, version(a)) // may equal the first account's "no script yet": it has none either
	step("put in the re-created account", s.PutSieveScript(ctx, a.ID, "main", "fileinto \"x\";"))
	step("activate in the re-created account", s.ActivateSieveScript(ctx, a.ID, "main"))
}

func testVacationReplies(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "away@example.org")
	b := account(t, s, "other@example.org")
	day := 24 * time.Hour
	claim := func(acc store.Account, key string, now time.Time, want bool) {
		t.Helper()
		got, err := s.ClaimVacationReply(ctx, acc.ID, key, now, now.Add(7*day))
		if err != nil || got != want {
			t.Errorf("ClaimVacationReply(%s, %q, %v) = %v, %v; want %v", acc.Address, key, now, got, err, want)
		}
	}
	claim(a, "sender@x", date, true)
	claim(a, "sender@x", date, false)
	claim(a, "sender@x", date.Add(7*day-time.Second), false)
	claim(a, "other@x", date, true)
	claim(b, "sender@x", date, true)
	claim(a, "sender@x", date.Add(7*day), true) // expired: again
	claim(a, "sender@x", date.Add(8*day), false)
	// Concurrent claims: exactly one wins.
	const n = 8
	wins := make(chan bool, n)
	for range n {
		go func() {
			ok, err := s.ClaimVacationReply(ctx, a.ID, "race@x", date, date.Add(day))
			if err != nil {
				t.Error(err)
			}
			wins <- ok
		}()
	}
	won := 0
	for range n {
		if <-wins {
			won++
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent claims won, want 1", won)
	}
}

// testSieveDuplicates: the ids of Sieve duplicate tests (RFC 7352) per
// account, until they expire, refreshed only when asked (:last), at most
// keep per account, gone with the account.
func testSieveDuplicates(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := account(t, s, "dup@example.org")
	b := account(t, s, "dup2@example.org")
	hour := time.Hour
	seen := func(acc store.Account, key string, now time.Time, want bool) {
		t.Helper()
		got, err := s.SeenDuplicate(ctx, acc.ID, key, now)
		if err != nil || got != want {
			t.Errorf("SeenDuplicate(%s, %q, %v) = %v, %v; want %v", acc.Address, key, now, got, err, want)
		}
	}
	record := func(acc store.Account, key string, now time.Time, period time.Duration, refresh bool) {
		t.Helper()
		if err := s.RecordDuplicate(ctx, acc.ID, key, now, now.Add(period), refresh, 50); err != nil {
			t.Fatalf("RecordDuplicate(%s, %q): %v", acc.Address, key, err)
		}
	}
	seen(a, "k1", date, false)
	record(a, "k1", date, 12*hour, false)
	seen(a, "k1", date, true)
	seen(b, "k1", date, false)
	seen(a, "k1", date.Add(12*hour-time.Second), true)
	seen(a, "k1", date.Add(12*hour), false) // expired
	// Without refresh the first expiry stands; with it, it moves.
	record(a, "k1", date.Add(6*hour), 12*hour, false)
	seen(a, "k1", date.Add(13*hour), false)
	record(a, "k2", date, 12*hour, false)
	record(a, "k2", date.Add(6*hour), 12*hour, true)
	seen(a, "k2", date.Add(13*hour), true)
	seen(a, "k2", date.Add(18*hour), false)
	// An expired key is recorded anew.
	record(a, "k3", date, hour, false)
	record(a, "k3", date.Add(2*hour), hour, false)
	seen(a, "k3", date.Add(2*hour+30*time.Minute), true)
	if err := s.RecordDuplicate(ctx, 1<<40, "k", date, date.Add(hour), false, 50); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordDuplicate for a missing account: %v, want ErrNotFound", err)
	}

	// At most keep (50) per account: the ones expiring first go.
	c := account(t, s, "many@example.org")
	for i := range 55 {
		record(c, fmt.Sprintf("id%02d", i), date, time.Duration(i+1)*time.Minute, false)
	}
	seen(c, "id04", date, false)
	seen(c, "id05", date, true)
	seen(c, "id54", date, true)

	// A delivery records its ids with the message, and only if it is
	// stored: one refused (a UIDL taken) records none.
	d := account(t, s, "deliv@example.org")
	rec := func(key string) []store.DuplicateRecord {
		return []store.DuplicateRecord{{AccountID: d.ID, Key: key, Now: date, Until: date.Add(hour), Keep: 50}}
	}
	if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: d.ID, UIDL: "u1"}},
		Body: strings.NewReader("Subject: 1\r\n\r\nx\r\n"), Duplicates: rec("with-message")}); err != nil {
		t.Fatal(err)
	}
	err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: d.ID, UIDL: "u1"}},
		Body: strings.NewReader("Subject: 2\r\n\r\nx\r\n"), Duplicates: rec("refused")})
	wantErr(t, "Deliver with a UIDL taken", err, store.ErrExists)
	seen(d, "with-message", date, true)
	seen(d, "refused", date, false)

	// Deleting the account forgets its ids.
	if err := s.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatal(err)
	}
	a = account(t, s, a.Address)
	seen(a, "k2", date.Add(7*hour), false)
}
