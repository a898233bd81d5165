package sqlite

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestMaildropLockAcrossProcesses: a maildrop another process holds open
// is locked for this one, and the lock goes with that process when it is
// killed (SIGKILL: no Close, no unlock), so nothing stale is left.
func TestMaildropLockAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("POCHTA_LOCK_CHILD"); dir != "" {
		lockChild(dir, os.Getenv("POCHTA_LOCK_ACCOUNT"))
		return
	}
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	a := newAccount(t, s, "held@example.org")
	b := newAccount(t, s, "free@example.org")

	cmd := exec.Command(os.Args[0], "-test.run=^TestMaildropLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "POCHTA_LOCK_CHILD="+dir, "POCHTA_LOCK_ACCOUNT="+strconv.FormatInt(a.ID, 10))
	cmd.Stderr = os.Stderr
	// The child lives until its stdin closes: until this test kills it,
	// or this process ends without cleaning up.
	hold, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}

	if _, err := s.OpenMaildrop(ctx, a.ID); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("OpenMaildrop of the maildrop the child holds: %v, want ErrLocked", err)
	}
	m, err := s.OpenMaildrop(ctx, b.ID)
	if err != nil {
		t.Fatalf("another account's maildrop: %v", err)
	}
	m.Close()

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait() // the kernel has closed the child's files once it is reaped
	m, err = s.OpenMaildrop(ctx, a.ID)
	if err != nil {
		t.Fatalf("OpenMaildrop after the holder was killed: %v", err)
	}
	m.Close()
}

// lockChild opens the store in dir, opens the account's maildrop, says
// so on stdout and waits to be killed, or for its stdin to close.
func lockChild(dir, account string) {
	id, err := strconv.ParseInt(account, 10, 64)
	if err != nil {
		panic(err)
	}
	s, err := Open(context.Background(), dir, Options{})
	if err != nil {
		panic(err)
	}
	if _, err := s.OpenMaildrop(context.Background(), id); err != nil {
		panic(err)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
