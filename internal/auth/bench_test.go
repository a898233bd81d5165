package auth

import (
	"testing"
)

// benchFixture has alice with production-cost credentials (NewCredentials).
func benchFixture(b *testing.B, o Options) *fixture {
	f := newFixture(b, o)
	c, err := f.s.NewCredentials("correct horse battery staple", false)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.dir.CreateAccount(b.Context(), "alice@example.org", c); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkCheckPasswordCold is one full argon2id verification with the
// default parameters (cache disabled).
func BenchmarkCheckPasswordCold(b *testing.B) {
	f := benchFixture(b, Options{CacheTTL: -1})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.s.CheckPassword(b.Context(), "alice", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckPasswordCached is a login served by the credentials cache:
// a directory lookup and an HMAC.
func BenchmarkCheckPasswordCached(b *testing.B) {
	f := benchFixture(b, Options{})
	if _, err := f.s.CheckPassword(b.Context(), "alice", "correct horse battery staple"); err != nil {
		b.Fatal(err)
	}
	runs := f.s.argonRuns.Load()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.s.CheckPassword(b.Context(), "alice", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	if f.s.argonRuns.Load() != runs {
		b.Fatal("cached logins ran argon2id")
	}
}

// BenchmarkCheckPasswordColdParallel shows the semaphore at work: many
// concurrent logins, at most GOMAXPROCS argon2id runs at a time.
func BenchmarkCheckPasswordColdParallel(b *testing.B) {
	f := benchFixture(b, Options{CacheTTL: -1})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.s.CheckPassword(b.Context(), "alice", "correct horse battery staple"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSCRAM is a whole SCRAM-SHA-256 exchange on the server side (the
// client's PBKDF2 is not counted).
func BenchmarkSCRAM(b *testing.B) {
	f, _ := rfcFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		sess, _ := f.s.NewSASL(b.Context(), "SCRAM-SHA-256", "h")
		sess.Next([]byte(rfcClientFirst))
		sess.Next([]byte(rfcClientFinal))
		if _, done, err := sess.Next([]byte{}); !done || err != nil {
			b.Fatal(done, err)
		}
	}
}
