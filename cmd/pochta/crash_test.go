package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashMessage builds message n: a header naming n and a body whose bytes
// depend on n and whose size varies, so a torn or mixed-up body is caught.
func crashMessage(n int) string {
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: crash %d\r\nX-Seq: %d\r\n\r\n", n, n)
	lines := 1 + rng.IntN(4000) // up to ~300 KB
	for i := range lines {
		fmt.Fprintf(&b, "%d.%d %x\r\n", n, i, rng.Uint64())
	}
	return b.String()
}

var seqRE = regexp.MustCompile(`X-Seq: (\d+)\r\n`)

// TestDeliverCrash kills `pochta deliver` with SIGKILL at random moments,
// several at once. Afterwards every delivery that exited 0 must be present
// exactly once and byte-exact, nothing else may be torn, and the database
// must pass SQLite's integrity check.
func TestDeliverCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	t.Parallel()
	dir := newMailDir(t)

	// Kill delays spread over about one and a half uninterrupted deliveries,
	// so kills land in every phase: start-up, body write, commit, exit.
	start := time.Now()
	must(t, crashMessage(0), "-d", dir, "deliver", "alice@example.test")
	span := time.Since(start) * 3 / 2

	const workers, perWorker = 3, 25
	var mu sync.Mutex
	durable := map[int]bool{0: true}
	killed := 0
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range perWorker {
				n := 1 + w*perWorker + i
				ok, wasKilled := deliverAndMaybeKill(t, dir, n, time.Duration(rng.Int64N(int64(span))))
				mu.Lock()
				if ok {
					durable[n] = true
				}
				if wasKilled {
					killed++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d deliveries: %d exited 0, %d killed (kill delays up to %v)", workers*perWorker+1, len(durable), killed, span)

	// Recovery: a new delivery after the crashes works.
	must(t, crashMessage(9999), "-d", dir, "deliver", "alice@example.test")
	durable[9999] = true

	st := openStore(t, dir)
	seen := map[int]int{}
	for _, body := range inbox(t, st, "alice@example.test") { // inbox checks Size == bytes read
		m := seqRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("message without X-Seq: %.80q", body)
		}
		n, _ := strconv.Atoi(m[1])
		if body != crashMessage(n) {
			t.Errorf("message %d is not byte-exact (%d bytes)", n, len(body))
		}
		seen[n]++
	}
	for n := range durable {
		if seen[n] != 1 {
			t.Errorf("message %d: deliver exited 0 but it is present %d times", n, seen[n])
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("message %d present %d times", n, c)
		}
	}
	integrityCheck(t, dir)
}

// deliverAndMaybeKill runs deliver for message n and SIGKILLs it after
// delay unless it finished. ok means it exited 0.
func deliverAndMaybeKill(t *testing.T, dir string, n int, delay time.Duration) (ok, killed bool) {
	cmd := exec.Command(bin, "-d", dir, "deliver", "alice@example.test")
	cmd.Stdin = strings.NewReader(crashMessage(n))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return false, false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			// Without a kill, deliver must not fail (75 under contention
			// would be allowed, but the busy timeout is far longer).
			t.Errorf("deliver %d failed without a kill: %v\n%s", n, err, stderr.String())
		}
		return err == nil, false
	case <-timer.C:
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		if err == nil {
			return true, false // it finished just before the kill
		}
		if ee, isExit := err.(*exec.ExitError); isExit && ee.ExitCode() > 0 {
			t.Errorf("deliver %d failed before the kill: %v\n%s", n, err, stderr.String())
		}
		return false, true
	}
}

func integrityCheck(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, pragma := range []string{"integrity_check", "foreign_key_check"} {
		rows, err := db.QueryContext(context.Background(), "PRAGMA "+pragma)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		for rows.Next() {
			cols, _ := rows.Columns()
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			rows.Scan(ptrs...)
			problems = append(problems, fmt.Sprint(vals...))
		}
		rows.Close()
		if pragma == "integrity_check" && (len(problems) != 1 || problems[0] != "ok") {
			t.Errorf("PRAGMA integrity_check: %q", problems)
		}
		if pragma == "foreign_key_check" && len(problems) != 0 {
			t.Errorf("PRAGMA foreign_key_check: %q", problems)
		}
	}
}
