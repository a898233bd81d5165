package pop3

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// flakyOpen is the real store whose OpenMaildrop fails with ErrTemporary
// the first `fail` times.
type flakyOpen struct {
	store.Maildrops
	fail atomic.Int32
}

func (f *flakyOpen) OpenMaildrop(ctx context.Context, id int64) (store.Maildrop, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, fmt.Errorf("database is locked: %w", store.ErrTemporary)
	}
	return f.Maildrops.OpenMaildrop(ctx, id)
}

// flakyPassword is the real auth service whose password check fails with
// a backend error (as when the directory is unreachable) the first time.
type flakyPassword struct {
	Authenticator
	fail atomic.Int32
}

func (f *flakyPassword) CheckPassword(ctx context.Context, login, password string) (store.Account, error) {
	if f.fail.Add(-1) >= 0 {
		return store.Account{}, fmt.Errorf("auth: looking up account: %w", store.ErrTemporary)
	}
	return f.Authenticator.CheckPassword(ctx, login, password)
}

// TestTemporaryFailuresAtLogin: a backend failure while checking the
// password or opening the maildrop is [SYS/TEMP] (RFC 3206: try again
// later), not [AUTH] (the credentials were not refused). It is neither
// throttled nor counted as a bad command, and the session stays in
// AUTHORIZATION so the client can simply retry.
func TestTemporaryFailuresAtLogin(t *testing.T) {
	t.Parallel()
	open := &flakyOpen{}
	open.fail.Store(1)
	var pass *flakyPassword
	e := newEnv(t, envOptions{maildrops: func(m store.Maildrops) store.Maildrops {
		open.Maildrops = m
		return open
	}}, func(s *Server) {
		s.MaxBadCommands = 1
		pass = &flakyPassword{Authenticator: s.Auth}
		pass.fail.Store(1)
		s.Auth = pass
	})
	e.deliver(testUser, msg1)
	c := e.dial()
	c.run(`
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: -ERR [SYS/TEMP] Temporary server failure, try again later
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: -ERR [SYS/TEMP] Temporary server failure, try again later
C: USER ` + testUser + `
S: +OK
C: PASS ` + testPass + `
S: +OK Logged in, 1 messages (` + itoa(len(msg1)) + ` octets)
C: STAT
S: +OK 1 ` + itoa(len(msg1)) + `
`)
}
