package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestBackupWhileServing: pochta backup while serve runs and pochta
// deliver keeps delivering; pochta restore into a new installation holds
// every message delivered before the backup, each with its whole body.
func TestBackupWhileServing(t *testing.T) {
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	body := func(i int) string {
		return fmt.Sprintf("Subject: m%d\n\n%s\n", i, strings.Repeat(fmt.Sprintf("line %d\n", i), 1+i%3*6000))
	}
	for i := range 10 {
		must(t, body(i), "-d", dir, "deliver", "alice@example.test")
	}
	s := serve(t, dir)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 10; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if r := pochta(t, strings.NewReader(body(i)), "-d", dir, "deliver", "alice@example.test"); r.code != 0 {
				t.Errorf("deliver: %s", r)
				return
			}
		}
	})
	backup := filepath.Join(t.TempDir(), "backup")
	out := must(t, "", "-d", dir, "backup", backup)
	close(stop)
	wg.Wait()
	t.Logf("%s", out)
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	live := inbox(t, openStore(t, dir), "alice@example.test")

	target := newDir(t)
	expect(t, 1, "--replace", "", "-d", target, "restore", backup)
	must(t, "", "-d", target, "restore", backup, "--replace")
	restored := inbox(t, openStore(t, target), "alice@example.test")
	if len(restored) < 10 || len(restored) > len(live) {
		t.Fatalf("restored %d messages; %d live", len(restored), len(live))
	}
	// Nothing was deleted: the backup is a prefix of the live mailbox.
	if !slices.Equal(restored, live[:len(restored)]) {
		t.Error("restored messages differ from the live ones")
	}
	if !strings.Contains(restored[0], "line 0") {
		t.Errorf("first message %q", restored[0][:40])
	}
}
