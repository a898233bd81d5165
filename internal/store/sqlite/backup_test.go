package sqlite

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// backupBody is message i: small ones stay inline, every third spills
// into a file.
func backupBody(i int) string {
	size := 200
	if i%3 == 0 {
		size = 3000
	}
	return fmt.Sprintf("Subject: m%d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprint(i%10), size))
}

// TestBackupUnderLoad: a backup taken while deliveries and deletions go
// on restores into a store where every message has its body, and every
// message delivered before the backup and never deleted is there.
func TestBackupUnderLoad(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir, Options{InlineMax: 1024})
	if err := s.AddDomain(ctx, "example.org"); err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, "a@example.org", store.Credentials{PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	deleted := map[string]bool{}
	deliver := func(i int) {
		if err := s.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID, UIDL: fmt.Sprintf("u%d", i)}},
			Body: strings.NewReader(backupBody(i))}); err != nil {
			t.Error(err)
		}
	}
	for i := range 60 {
		deliver(i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // deliveries
		for i := 60; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			deliver(i)
		}
	})
	wg.Go(func() { // POP3-style deletions of the oldest messages
		for {
			select {
			case <-stop:
				return
			default:
			}
			md, err := s.OpenMaildrop(ctx, a.ID)
			if err != nil {
				t.Error(err)
				return
			}
			msgs := md.Messages()
			if len(msgs) > 2 {
				mu.Lock()
				deleted[msgs[0].UIDL], deleted[msgs[1].UIDL] = true, true
				mu.Unlock()
				if err := md.Delete(ctx, []int64{msgs[0].ID, msgs[1].ID}); err != nil {
					t.Error(err)
				}
			}
			md.Close()
		}
	})
	dest := t.TempDir()
	res, err := s.Backup(ctx, dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Missing) > 0 || res.Files == 0 {
		t.Fatalf("backup: %+v", res)
	}
	restored := t.TempDir()
	if _, err := Restore(ctx, dest, restored, false); err != nil {
		t.Fatal(err)
	}
	r := openTest(t, restored, Options{})
	ra, err := r.Account(ctx, "a@example.org")
	if err != nil {
		t.Fatal(err)
	}
	bodies := storetest.Bodies(t, r, ra.ID) // checks every body against its size
	md, err := r.OpenMaildrop(ctx, ra.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for k, m := range md.Messages() {
		var i int
		fmt.Sscanf(m.UIDL, "u%d", &i)
		if bodies[k] != backupBody(i) {
			t.Errorf("restored %s differs", m.UIDL)
		}
		got[m.UIDL] = true
	}
	md.Close()
	for i := range 60 {
		if u := fmt.Sprintf("u%d", i); !got[u] && !deleted[u] {
			t.Errorf("%s, delivered before the backup and never deleted, is not in it", u)
		}
	}
	t.Logf("backup of %d messages (%d files, linked %v) taken under load; %d deleted meanwhile", len(got), res.Files, res.Linked, len(deleted))
	// Restoring over a database needs --replace, and then keeps the old one aside.
	if _, err := Restore(ctx, dest, restored, true); err == nil {
		t.Error("restore into a directory in use succeeded")
	}
}
