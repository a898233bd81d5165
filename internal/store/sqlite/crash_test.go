package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestCrash is the crash-safety test. It re-executes the test binary as a
// child (crashChild) that delivers messages and deletes batches of them in
// a loop, reporting on stdout what has returned successfully, and kills it
// with SIGKILL at a random moment. After each kill it reopens the store and
// checks that
//   - every delivery the child reported is present with its exact bytes,
//     unless the child tried to delete it;
//   - every delete batch is entirely present or entirely gone (entirely
//     gone if the child reported the Delete as done);
//   - the database passes PRAGMA integrity_check.
func TestCrash(t *testing.T) {
	if dir := os.Getenv("POCHTA_CRASH_CHILD"); dir != "" {
		crashChild(dir, os.Getenv("POCHTA_CRASH_ITER"))
		return
	}
	if testing.Short() {
		t.Skip("crash test re-executes the test binary")
	}
	dir := t.TempDir()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := newAccount(t, s, "crash@example.org")
	s.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var log crashLog
	for iter := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), "POCHTA_CRASH_CHILD="+dir, "POCHTA_CRASH_ITER="+strconv.Itoa(iter))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			log.read(out, ready)
		}()
		select {
		case <-ready:
		case <-done:
			t.Fatalf("iteration %d: child exited before it was ready", iter)
		}
		time.Sleep(time.Duration(20+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL: no deferred cleanup runs
		<-done
		cmd.Wait()
		log.verify(t, dir, a)
	}
	t.Logf("%d deliveries and %d deletions survived 8 kills", len(log.delivered), len(log.attempted))
}

// crashBody is message n as the child sends it (bare LF line endings, some
// lines starting with ".") ...
func crashBody(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: message %d\n\n", n)
	for i := range n % 300 {
		fmt.Fprintf(&b, "line %d of message %d\n", i, n)
		if i%50 == 7 {
			b.WriteString(".dot line\n")
		}
	}
	return b.String()
}

// ... and crashStored is what the store must give back.
func crashStored(n int) string { return strings.ReplaceAll(crashBody(n), "\n", "\r\n") }

// crashChild runs until killed. Its report lines: "READY", "D n" after
// Deliver of message n returned nil, "B n..." before a Delete and "X n..."
// after it returned nil.
func crashChild(dir, iter string) {
	base, _ := strconv.Atoi(iter)
	base *= 1_000_000
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...)
	}
	ctx := context.Background()
	// Bodies of a few KiB: about half inline, half in files.
	s, err := Open(ctx, dir, Options{InlineMax: 4 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	a, err := s.Account(ctx, "crash@example.org")
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(1)
	}
	say("READY")
	for w := range 3 {
		go func() {
			for i := 0; ; i++ {
				n := base + w*100_000 + i
				err := s.Deliver(ctx, store.Delivery{
					Recipients: []store.Recipient{{AccountID: a.ID, UIDL: fmt.Sprintf("c%d", n)}},
					Body:       strings.NewReader(crashBody(n)),
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "crash child: deliver:", err)
					continue
				}
				say("D %d", n)
			}
		}()
	}
	for {
		m, err := s.OpenMaildrop(ctx, a.ID)
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child: open:", err)
			continue
		}
		msgs := m.Messages()
		var ids []int64
		var ns []string
		for range min(len(msgs), 5) {
			msg := msgs[rand.IntN(len(msgs))]
			if slicesContains(ids, msg.ID) {
				continue
			}
			ids = append(ids, msg.ID)
			ns = append(ns, strings.TrimPrefix(msg.UIDL, "c"))
		}
		if len(ids) > 0 {
			say("B %s", strings.Join(ns, " "))
			if err := m.Delete(ctx, ids); err != nil {
				fmt.Fprintln(os.Stderr, "crash child: delete:", err)
			} else {
				say("X %s", strings.Join(ns, " "))
			}
		}
		m.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func slicesContains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// crashLog accumulates what the children reported.
type crashLog struct {
	delivered map[int]bool    // all iterations
	attempted map[int]bool    // all iterations: messages some batch tried to delete
	batches   map[string]bool // this iteration: "n n n" -> the Delete returned nil
}

func (l *crashLog) read(r io.Reader, ready chan<- struct{}) {
	if l.delivered == nil {
		l.delivered, l.attempted = map[int]bool{}, map[int]bool{}
	}
	// A batch that was not done may be all present; the next child may
	// then delete some of its messages, so it is judged only once.
	l.batches = map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "READY":
			close(ready)
		case "D":
			n, err := strconv.Atoi(rest)
			if err == nil {
				l.delivered[n] = true
			}
		case "B":
			l.batches[rest] = l.batches[rest] || false
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				l.attempted[n] = true
			}
		case "X":
			l.batches[rest] = true
		}
	}
}

// verify reopens the store and checks the invariants against the log.
func (l *crashLog) verify(t *testing.T, dir string, a store.Account) {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var check string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	m, err := s.OpenMaildrop(context.Background(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	present := map[int]bool{}
	for _, msg := range m.Messages() {
		n, err := strconv.Atoi(strings.TrimPrefix(msg.UIDL, "c"))
		if err != nil {
			t.Fatalf("unexpected UIDL %q", msg.UIDL)
		}
		present[n] = true
		r, err := m.Body(context.Background(), msg.ID)
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(b) != crashStored(n) || msg.Size != int64(len(b)) {
			t.Fatalf("message %d: %d bytes (Size %d), %v; want its exact %d bytes",
				n, len(b), msg.Size, err, len(crashStored(n)))
		}
	}
	for batch, done := range l.batches {
		count, total := 0, 0
		for _, f := range strings.Fields(batch) {
			n, _ := strconv.Atoi(f)
			total++
			if present[n] {
				count++
			}
		}
		if count != 0 && (count != total || done) {
			t.Errorf("delete batch %q (done %v): %d of %d messages still present", batch, done, count, total)
		}
	}
	for n := range l.delivered {
		if !present[n] && !l.attempted[n] {
			t.Errorf("message %d was reported delivered but is missing", n)
		}
	}
}
