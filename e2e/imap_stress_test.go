package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
)

// TestIMAPStress runs the bounded multi-client stress test of imaptest
// (10 clients sharing one account, random SELECT/FETCH/STORE/EXPUNGE/
// APPEND/COPY/MOVE/SEARCH/NOOP/IDLE, each with a model of its mailbox)
// against `pochta serve` and, when installed, against Dovecot, which shows
// that the test itself holds a correct server to nothing it does not owe.
func TestIMAPStress(t *testing.T) {
	duration := 20 * time.Second
	if testing.Short() {
		duration = 3 * time.Second
	}
	const user, pass = "stress@example.test", "stress-pass-1"
	run := func(t *testing.T, addr string, clients int, d time.Duration, deliver func(string) error) {
		rep, err := imaptest.Stress(imaptest.StressOptions{
			Addr: addr, User: user, Pass: pass, Clients: clients, Duration: d, Seed: 8, Deliver: deliver,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("commands completed: %v; messages left out of OK FETCH answers (all expunged?): %d", rep.Commands, rep.Omitted)
		if len(rep.Counts) > 0 {
			t.Errorf("%d kinds of response contradicted the clients' models:\n%s", len(rep.Counts), rep.Summary())
		}
	}
	pochta := func(t *testing.T, bin string, clients int, d time.Duration) {
		in := newInstance(t, "example.test")
		in.bin = bin
		in.addUser(user, pass)
		in.serve([]string{"imap"})
		run(t, in.addrs["imap"], clients, d, func(msg string) error {
			return external(exec.Command(pochtaBin, "-d", in.dir, "deliver", user), msg)
		})
	}
	t.Run("pochta", func(t *testing.T) {
		t.Parallel()
		pochta(t, "", 10, duration)
	})
	if raceEnabled {
		// The same against a server built with -race (about ten times
		// slower, hence fewer clients for less time): a data race makes
		// serve exit 66, which the instance's cleanup reports.
		t.Run("pochta-race", func(t *testing.T) {
			t.Parallel()
			pochta(t, pochtaRaceBin(t), 5, duration/2)
		})
	}
	t.Run("dovecot", func(t *testing.T) {
		t.Parallel()
		dv := startDovecot(t, map[string]string{user: pass})
		var deliver func(string) error
		if _, err := os.Stat(dovecotLDA); err == nil {
			deliver = func(msg string) error {
				return external(exec.Command(dovecotLDA, "-c", filepath.Join(dv.dir, "dovecot.conf"), "-d", user), msg)
			}
		}
		run(t, dv.addr, 10, duration, deliver)
	})
}

// dovecotLDA is Dovecot's local delivery agent (package dovecot-core).
const dovecotLDA = "/usr/lib/dovecot/dovecot-lda"

// external runs a delivery command with the message on its standard input.
func external(cmd *exec.Cmd, msg string) error {
	cmd.Stdin = strings.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
	}
	return nil
}
