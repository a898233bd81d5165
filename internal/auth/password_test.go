package auth

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestNewCredentialsFormats(t *testing.T) {
	s := New(Options{})
	c, err := s.NewCredentials("pencil", false)
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(c.PasswordHash) {
		t.Errorf("PasswordHash = %q, want PHC argon2id with default parameters", c.PasswordHash)
	}
	scram := regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`)
	if !scram.MatchString(c.SCRAMSHA256) {
		t.Errorf("SCRAMSHA256 = %q", c.SCRAMSHA256)
	}
	if c.LegacySecret != "" {
		t.Errorf("LegacySecret = %q without legacy", c.LegacySecret)
	}
	ok, err := s.verifyPassword(t.Context(), c.PasswordHash, "pencil")
	if err != nil || !ok {
		t.Errorf("verify right password = %v, %v", ok, err)
	}
	ok, err = s.verifyPassword(t.Context(), c.PasswordHash, "Pencil")
	if err != nil || ok {
		t.Errorf("verify wrong password = %v, %v", ok, err)
	}

	other, err := s.NewCredentials("pencil", true)
	if err != nil {
		t.Fatal(err)
	}
	if other.LegacySecret != "pencil" {
		t.Errorf("LegacySecret = %q, want the password", other.LegacySecret)
	}
	if other.PasswordHash == c.PasswordHash || other.SCRAMSHA256 == c.SCRAMSHA256 {
		t.Error("two hashes of one password are equal: salts are not random")
	}
}

func TestNewCredentialsRefusesBadPasswords(t *testing.T) {
	s := New(Options{})
	for _, pw := range []string{"", string(make([]byte, maxPasswordLen+1))} {
		if _, err := s.NewCredentials(pw, false); err == nil {
			t.Errorf("NewCredentials(%d bytes) succeeded", len(pw))
		}
	}
}

// Parameters come from the stored string, so hashes made with other costs
// (older or newer policy) still verify.
func TestVerifyReadsParametersFromHash(t *testing.T) {
	s := New(Options{})
	for _, p := range []argonParams{cheapArgon, {memory: 256, time: 2, threads: 2}} {
		phc, err := s.hashPassword(t.Context(), "pw", p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.verifyPassword(t.Context(), phc, "pw"); !ok || err != nil {
			t.Errorf("%s: verify = %v, %v", phc, ok, err)
		}
	}
}

func TestParsePHCRejectsMalformed(t *testing.T) {
	const salt, key = "MDEyMzQ1Njc4OWFiY2RlZg", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, _, err := parsePHC(good); err != nil {
		t.Fatalf("good hash refused: %v", err)
	}
	for _, h := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key + "$",
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=300$" + salt + "$" + key,
		"$argon2id$v=19$m=4,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key, // 95 GiB: refused, not allocated
		"$argon2id$v=19$m=64,t=1000,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,x=2$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=x,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$MDEy",
	} {
		if _, _, _, err := parsePHC(h); !errors.Is(err, errBadHash) {
			t.Errorf("parsePHC(%q) = %v, want errBadHash", h, err)
		}
	}
}

func TestArgonWaitGivesUpWithContext(t *testing.T) {
	s := New(Options{})
	if !s.argonMem.TryAcquire(s.argonBudget) { // all the memory busy
		t.Fatal("budget not free")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.verifyPassword(ctx, "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "pw")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := s.argonRuns.Load(); n != 0 {
		t.Errorf("argon2id ran %d times without a slot", n)
	}
}

// A login flood holds at most Options.HashMemory of argon2id memory at
// once, however many logins arrive; a stored hash costlier than the whole
// budget waits for all of it and runs alone.
func TestArgonMemoryIsBounded(t *testing.T) {
	const m = 256 // KiB per new hash
	s := New(Options{Argon2: Argon2Params{MemoryKiB: m, Time: 1, Threads: 1}, HashMemory: 2 * m << 10})
	if want := int64(min(2, runtime.GOMAXPROCS(0)) * m); s.argonBudget != want {
		t.Fatalf("budget %d KiB, want %d", s.argonBudget, want)
	}
	small, err := s.hashPassword(t.Context(), "pw", s.hashParams)
	if err != nil {
		t.Fatal(err)
	}
	big, err := s.hashPassword(t.Context(), "pw", argonParams{memory: 4 * m, time: 1, threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	flood := func(hashes ...string) {
		var wg sync.WaitGroup
		for range 20 {
			for _, h := range hashes {
				wg.Go(func() {
					if ok, err := s.verifyPassword(t.Context(), h, "pw"); !ok || err != nil {
						t.Errorf("verify: %v %v", ok, err)
					}
				})
			}
		}
		wg.Wait()
	}
	s.argonPeak.Store(0)
	flood(small)
	if peak := s.argonPeak.Load(); peak > s.argonBudget {
		t.Errorf("20 logins held %d KiB of argon2id memory at once, budget %d", peak, s.argonBudget)
	}
	s.argonPeak.Store(0)
	flood(small, big)
	if peak := s.argonPeak.Load(); peak > 4*m {
		t.Errorf("a %d KiB hash did not run alone: %d KiB held at once", 4*m, peak)
	}
	if n := s.argonHeld.Load(); n != 0 {
		t.Errorf("%d KiB still held after the flood", n)
	}
}

func TestSCRAMKeysRoundTrip(t *testing.T) {
	k, err := deriveSCRAM("pencil", []byte("salt-salt-salt!!"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	back, err := parseSCRAM(k.String())
	if err != nil {
		t.Fatal(err)
	}
	if back.String() != k.String() {
		t.Errorf("round trip: %q != %q", back.String(), k.String())
	}
	for _, bad := range []string{
		"", "SCRAM-SHA-1$4096:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$0:c2FsdA==$" + k.String()[len(k.String())-89:],
		"SCRAM-SHA-256$4096:c2FsdA==",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
		"SCRAM-SHA-256$99999999:c2FsdA==$" + k.String()[len(k.String())-89:],
	} {
		if _, err := parseSCRAM(bad); err == nil {
			t.Errorf("parseSCRAM(%q) succeeded", bad)
		}
	}
}

// TestArgon2Options checks that new hashes carry the configured costs and
// that zero fields fall back to RFC 9106's recommendation.
func TestArgon2Options(t *testing.T) {
	for _, c := range []struct {
		o    Argon2Params
		want string
	}{
		{Argon2Params{}, "$m=65536,t=3,p=4$"},
		{Argon2Params{MemoryKiB: 128, Time: 1, Threads: 1}, "$m=128,t=1,p=1$"},
		{Argon2Params{Time: 2}, "$m=65536,t=2,p=4$"},
	} {
		s := New(Options{Directory: testDirectory(t), Argon2: c.o})
		cr, err := s.NewCredentials("pw", false)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cr.PasswordHash, c.want) {
			t.Errorf("Argon2 %+v: hash %q lacks %q", c.o, cr.PasswordHash, c.want)
		}
	}
}
