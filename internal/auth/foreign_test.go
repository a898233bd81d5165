package auth

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
)

// foreignVectors were made by Dovecot 2.3's `doveadm pw -s SCHEME -p
// 'pässword 1'`.
var foreignVectors = []string{
	`{SHA512-CRYPT}$6$9M0iCRZWCRYPaj4C$VU0bdhpq5BgKeqXweafQrQX5Ncmv/a.1U3X8ocXv/hzMkXBCQOkld0/BHuXstRSjfUAYKh.OjoFdHdbfYuRg9/`,
	`{SHA256-CRYPT}$5$zNkecVykukIqa5h/$L3fq6nZIyrl5DuDo7NrZUWhsuZJxEZ0kfgNi/Rt/18/`,
	`{BLF-CRYPT}$2y$05$sB5iXnn7O9xqPRIMy01ctuGj/ReLbQztHzWZcJtOCRb9tm9D4Y19S`,
	`{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$xHKSeFN1Vux5WDjx7/fafg$GtKu0QZBl7WeQXkVnkO2+3JmDD+av011b0SeNZptwOY`,
	`{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$GzC+kWJnYbC40CrzOWtOGw$mJ5LtrWZUJYB31ZDhLPOTQoxQexmFZ79d18JAEe6/dA`,
	`{SSHA512}msU4VgT80bS0YA2eLVwY7i1yYr+osjyBBYDKvHuqmzi4T1O4QfIvYMRg1O7aENoYRJZeiqZIaNg+//axFG4KnrsHymk=`,
	`{SSHA256}sBe4odzcElOzjtQ9ZmrA9G1QK3s/tWBFleP30xCd4dMqBLu0`,
	`{SSHA}Ed49K5yp8WsKb/xhTyYZzEkiZ+y0lJ2i`,
	`{SHA512}CKWQ1bFe+6HuV0fkV78KrhRH5bOjFVbkHBnd8vTWw2lc3YVFx8X2I6wtGQoVpZVuVsftC++RLO5GPIvd7H4Lyg==`,
	`{SHA256}f7RERuWhObO3oHciFhtpNCnGhD0FNBL7CyE3AkK4vbA=`,
	`{SHA}wBFJYYjnh5eS5Eft5JORpd7Gkko=`,
	`{PLAIN-MD5}ee0a0fa09df7c1e10c13c2792a1c5fba`,
	`{LDAP-MD5}7goPoJ33weEME8J5Khxfug==`,
	`{SMD5}8bvoc1fsE+fovscsDMnUueTjab4=`,
	`{MD5-CRYPT}$1$JgPTMJB0$u00T0dwbHZIcL9uzmzauL1`,
	`{MD5}$1$Zslm4vsQ$y.RyGA6S8J/T2oU8PzgaB0`,
	`{PLAIN}pässword 1`,
	`{CLEAR}pässword 1`,
	`{SCRAM-SHA-256}4096,soku1P8aPCiNwhqNykasRg==,OcFHBIdx0eIqjkvASgZgvjvnmxVswOJ2DoB/yvd9+BE=,oKa3SWpM6m13mFKSC/zy5doswLhrQ/oRJyY/j/Uo+N0=`,
	`{CRYPT}$2y$05$yY4A.ctD3Cohtj9lcW9NMuEhqDEe7V0K2M.8FH2k3kTL4U9.Kn30G`,
	`$6$9M0iCRZWCRYPaj4C$VU0bdhpq5BgKeqXweafQrQX5Ncmv/a.1U3X8ocXv/hzMkXBCQOkld0/BHuXstRSjfUAYKh.OjoFdHdbfYuRg9/`,
	`$1$JgPTMJB0$u00T0dwbHZIcL9uzmzauL1`,
	`$argon2i$v=19$m=32768,t=4,p=1$GzC+kWJnYbC40CrzOWtOGw$mJ5LtrWZUJYB31ZDhLPOTQoxQexmFZ79d18JAEe6/dA`,
}

func TestForeignHashes(t *testing.T) {
	for _, h := range foreignVectors {
		if _, err := CheckForeignHash(h); err != nil {
			t.Errorf("CheckForeignHash(%s): %v", h, err)
		}
		for pw, want := range map[string]bool{"pässword 1": true, "pässword 2": false, "pässword": false} {
			ok, err := verifyForeign(h, pw)
			if err != nil || ok != want {
				t.Errorf("%s with %q: %v, %v; want %v", h, pw, ok, err, want)
			}
		}
	}
	for _, bad := range []string{
		"{DES-CRYPT}abcdefghijklm", "{NOPE}x", "{SHA512-CRYPT}$5$abc$def", "{SSHA}%%%", "{SHA256}AAAA",
		"{PLAIN}", "{SHA512-CRYPT}$6$rounds=99999999$salt$hash", "{BLF-CRYPT}$2y$99$short",
		"{ARGON2ID}$argon2id$v=19$m=9999999,t=3,p=1$xHKSeFN1Vux5WDjx7/fafg$GtKu0QZBl7WeQXkVnkO2+3JmDD+av011b0SeNZptwOY",
		"not a hash", "",
		"{SCRAM-SHA-256}4096,soku1P8aPCiNwhqNykasRg==,OcFHBIdx0eIqjkvASgZgvjvnmxVswOJ2DoB/yvd9+BE=",
		"{SCRAM-SHA-256}0,soku1P8aPCiNwhqNykasRg==,OcFHBIdx0eIqjkvASgZgvjvnmxVswOJ2DoB/yvd9+BE=,oKa3SWpM6m13mFKSC/zy5doswLhrQ/oRJyY/j/Uo+N0=",
		"{SCRAM-SHA-1}4096,soku1P8aPCiNwhqNykasRg==,OcFHBIdx0eIqjkvASgZg=,oKa3SWpM6m13mFKSC/zy5dos=",
	} {
		if s, err := CheckForeignHash(bad); err == nil {
			t.Errorf("CheckForeignHash(%q) accepted it as %s", bad, s)
		}
		if ok, err := verifyForeign(bad, "x"); ok || !errors.Is(err, errBadHash) && err != nil {
			t.Errorf("verifyForeign(%q) = %v, %v", bad, ok, err)
		}
	}
}

// TestForeignHashesDoveadm checks every scheme against fresh hashes from
// Dovecot's doveadm pw, with passwords of several lengths (the crypt
// algorithms branch on the length) and explicit SHA-crypt rounds.
func TestForeignHashesDoveadm(t *testing.T) {
	prototest.NeedProgram(t, "doveadm", "dovecot-core")
	passwords := []string{"a", "secret", "exactly sixteen!", strings.Repeat("long päss ", 9), "sp ace:colon$dollar"}
	schemes := []string{"SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2I", "ARGON2ID", "SSHA512", "SSHA256",
		"SSHA", "SMD5", "SHA512", "SHA256", "SHA", "PLAIN-MD5", "LDAP-MD5", "MD5-CRYPT", "PLAIN", "SHA256.HEX", "SSHA512.HEX",
		"SCRAM-SHA-256"}
	gen := func(args ...string) string {
		out, err := exec.Command("doveadm", append([]string{"pw"}, args...)...).Output()
		if err != nil {
			t.Fatalf("doveadm pw %q: %v", args, err)
		}
		return strings.TrimRight(string(out), "\n")
	}
	for _, scheme := range schemes {
		pws := passwords
		if strings.HasPrefix(scheme, "ARGON2") {
			pws = pws[:2] // slow under -race; the length branches are crypt's
		}
		for _, pw := range pws {
			h := gen("-s", scheme, "-p", pw)
			if ok, err := verifyForeign(h, pw); !ok || err != nil {
				t.Errorf("%s of %q: %v, %v", h, pw, ok, err)
			}
			// bcrypt reads 72 octets (Dovecot's too): longer passwords
			// differing after them match.
			if ok, _ := verifyForeign(h, pw+"x"); ok && !(scheme == "BLF-CRYPT" && len(pw) >= 72) {
				t.Errorf("%s accepts a wrong password", h)
			}
		}
	}
	for _, rounds := range []string{"1000", "7777"} {
		for _, scheme := range []string{"SHA512-CRYPT", "SHA256-CRYPT"} {
			h := gen("-s", scheme, "-r", rounds, "-p", "secret")
			if !strings.Contains(h, "rounds="+rounds+"$") {
				t.Fatalf("doveadm made %s", h)
			}
			if ok, err := verifyForeign(h, "secret"); !ok || err != nil {
				t.Errorf("%s: %v, %v", h, ok, err)
			}
		}
	}
}

// TestImportedHashRehashed: an account imported with a foreign hash logs
// in with it once; the hash is then our argon2id with SCRAM keys, and the
// legacy secret stays.
func TestImportedHashRehashed(t *testing.T) {
	f := newFixture(t, Options{Argon2: Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}})
	imported := `{SHA512-CRYPT}$6$9M0iCRZWCRYPaj4C$VU0bdhpq5BgKeqXweafQrQX5Ncmv/a.1U3X8ocXv/hzMkXBCQOkld0/BHuXstRSjfUAYKh.OjoFdHdbfYuRg9/`
	c := f.credentials(t, "unused", true)
	c.PasswordHash, c.SCRAMSHA256 = imported, ""
	if _, err := f.dir.CreateAccount(t.Context(), "old@example.org", c); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CheckPassword(t.Context(), "old@example.org", "wrong"); !errors.Is(err, ErrFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if a, _ := f.dir.Account(t.Context(), "old@example.org"); a.Credentials.PasswordHash != imported {
		t.Fatalf("a failed login changed the hash to %q", a.Credentials.PasswordHash)
	}
	acct, err := f.s.CheckPassword(t.Context(), "old@example.org", "pässword 1")
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	a, err := f.dir.Account(t.Context(), "old@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if !IsNativeHash(a.Credentials.PasswordHash) || a.Credentials.SCRAMSHA256 == "" || a.Credentials.LegacySecret != "unused" {
		t.Errorf("after the first login: %+v", a.Credentials)
	}
	if acct.Credentials.PasswordHash != a.Credentials.PasswordHash {
		t.Errorf("CheckPassword returned the old credentials")
	}
	if _, err := f.s.CheckPassword(t.Context(), "old@example.org", "pässword 1"); err != nil {
		t.Errorf("second login with the new hash: %v", err)
	}
}

// TestImportedSCRAMHash: Dovecot's {SCRAM-SHA-256} hash carries the SCRAM
// keys themselves, so an account imported with one can log in with
// SCRAM-SHA-256 before any password login (the keys go to SCRAMSHA256 at
// import); other hashes carry none.
func TestImportedSCRAMHash(t *testing.T) {
	f := newFixture(t, Options{})
	h := `{SCRAM-SHA-256}4096,soku1P8aPCiNwhqNykasRg==,OcFHBIdx0eIqjkvASgZgvjvnmxVswOJ2DoB/yvd9+BE=,oKa3SWpM6m13mFKSC/zy5doswLhrQ/oRJyY/j/Uo+N0=`
	keys := ImportedSCRAM(h)
	if keys == "" {
		t.Fatalf("ImportedSCRAM(%s) found no keys", h)
	}
	for _, other := range []string{foreignVectors[0], "{PLAIN}pässword 1", "{SCRAM-SHA-256}garbage"} {
		if k := ImportedSCRAM(other); k != "" {
			t.Errorf("ImportedSCRAM(%s) = %q, want none", other, k)
		}
	}
	if _, err := f.dir.CreateAccount(t.Context(), "old@example.org", store.Credentials{PasswordHash: h, SCRAMSHA256: keys}); err != nil {
		t.Fatal(err)
	}
	a, err := runSCRAM(t, f.s, scramClient{gs2: "n,,", bare: "n=old@example.org,r=abc", password: "pässword 1"})
	if err != nil || a.Address != "old@example.org" {
		t.Fatalf("SCRAM-SHA-256 with the imported keys: %+v, %v", a, err)
	}
	if _, err := runSCRAM(t, f.s, scramClient{gs2: "n,,", bare: "n=old@example.org,r=abc", password: "pässword 2"}); err == nil {
		t.Errorf("SCRAM-SHA-256 with a wrong password passed")
	}
}
