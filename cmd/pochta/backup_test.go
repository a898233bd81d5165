package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
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

// TestBackupKeepsKeys: a backup holds the configuration and every key
// (DKIM, the fetch sources' sealing key, certificates) with their modes;
// a restore into a new directory puts them back, and a restore into an
// installation keeps the configuration it has.
func TestBackupKeepsKeys(t *testing.T) {
	dir := newDir(t)
	key := strings.Repeat("ab", 32) + "\n"
	if err := os.WriteFile(filepath.Join(dir, "fetch.key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	must(t, "", "-d", dir, "dkim", "keygen", "example.test")
	var dkimFiles []string
	filepath.WalkDir(filepath.Join(dir, "dkim"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			dkimFiles = append(dkimFiles, rel)
		}
		return nil
	})
	if len(dkimFiles) == 0 {
		t.Fatal("dkim keygen wrote no key")
	}
	backup := filepath.Join(t.TempDir(), "backup")
	must(t, "", "-d", dir, "backup", backup)
	wanted := append([]string{"pochta.toml", "fetch.key"}, dkimFiles...)
	for _, name := range wanted {
		orig, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.Stat(filepath.Join(backup, name))
		if err != nil {
			t.Fatalf("backup lacks %s: %v", name, err)
		}
		if got.Mode() != orig.Mode() {
			t.Errorf("%s: mode %v in the backup, %v in the installation", name, got.Mode(), orig.Mode())
		}
	}

	empty := filepath.Join(t.TempDir(), "restored")
	must(t, "", "-d", empty, "restore", backup)
	for _, name := range wanted {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(empty, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("restored %s differs (%v)", name, err)
		}
	}
	must(t, "", "-d", empty, "user", "list")

	other := newDir(t)
	before, _ := os.ReadFile(filepath.Join(other, "pochta.toml"))
	must(t, "", "-d", other, "restore", backup, "--replace")
	after, _ := os.ReadFile(filepath.Join(other, "pochta.toml"))
	if !bytes.Equal(before, after) {
		t.Error("restore replaced the installation's pochta.toml")
	}
	if b, _ := os.ReadFile(filepath.Join(other, "fetch.key")); string(b) != key {
		t.Error("restore did not bring the fetch key into an installation without one")
	}
}
