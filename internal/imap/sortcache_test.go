package imap

import (
	"fmt"
	"strings"
	"testing"
)

// The server's sort-key cache must give the answers a SORT without it
// gives, across deliveries, expunges, several sessions and evictions.
func TestSortCacheFollowsChanges(t *testing.T) {
	for _, size := range []int{0, 1, -1} { // default, evicting all the time, none
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			e := newEnv(t, envOptions{server: func(s *Server) { s.SortCacheSize = size }})
			e.deliver(testUser, sortMails()...)
			c := dialSelected(t, e, false)
			check := func(who string, cmd, want string) {
				t.Helper()
				res, err := c.MustOK(cmd)
				if err != nil {
					t.Fatalf("%s %s: %v", who, cmd, err)
				}
				if got := res.Named("SORT"); len(got) != 1 || strings.TrimRight(got[0].Raw, "\r\n") != want {
					t.Errorf("%s %s: %v, want %s", who, cmd, res.Untagged, want)
				}
			}
			check("first", "SORT (SIZE) UTF-8 ALL", "* SORT 5 2 3 1 4")
			check("again", "SORT (SIZE) UTF-8 ALL", "* SORT 5 2 3 1 4")
			e.deliver(testUser, sortMail("new@example.org", "x@example.net", "news", "Thu, 9 May 2024 10:00:00 +0000", 2500))
			if _, err := c.MustOK("NOOP"); err != nil {
				t.Fatal(err)
			}
			check("after a delivery", "SORT (SIZE) UTF-8 ALL", "* SORT 5 2 3 6 1 4")
			if _, err := c.MustOK("STORE 2 +FLAGS.SILENT (\\Deleted)"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.MustOK("EXPUNGE"); err != nil {
				t.Fatal(err)
			}
			check("after an expunge", "SORT (SIZE) UTF-8 ALL", "* SORT 4 2 5 1 3")
			check("after an expunge", "SORT (SUBJECT) UTF-8 ALL", "* SORT 2 4 1 3 5")
			c = dialSelected(t, e, true) // another session, the same cache
			check("another session", "SORT (REVERSE SIZE) UTF-8 ALL", "* SORT 3 1 5 2 4")
		})
	}
}

func TestSortCacheEvictsLeastRecentlyUsed(t *testing.T) {
	var c sortCache
	keys := func(n int) []*msgKeys {
		out := make([]*msgKeys, n)
		for i := range out {
			out[i] = &msgKeys{size: int64(i)}
		}
		return out
	}
	uids := []uint32{1, 2, 3}
	got := make([]*msgKeys, 3)
	c.add(boxID{10, 1}, uids, keys(3), uids, 7)
	c.add(boxID{20, 1}, uids, keys(3), uids, 7)
	if n := c.lookup(boxID{10, 1}, uids, got); n != 3 { // 10 is now the more recently used
		t.Fatalf("mailbox 10: %d of 3 cached", n)
	}
	c.add(boxID{30, 1}, uids, keys(3), uids, 7) // over 7: 20 goes
	if n := c.lookup(boxID{20, 1}, uids, make([]*msgKeys, 3)); n != 0 {
		t.Errorf("mailbox 20 kept %d entries after its eviction", n)
	}
	if n := c.lookup(boxID{10, 1}, uids, make([]*msgKeys, 3)); n != 3 {
		t.Errorf("mailbox 10: %d of 3 cached", n)
	}
	if c.n != 6 {
		t.Errorf("%d entries counted, want 6", c.n)
	}
	// One mailbox larger than the cache keeps what fits.
	c.add(boxID{40, 1}, []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9}, keys(9), []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 7)
	if c.n != 7 || len(c.boxes) != 1 {
		t.Errorf("%d entries in %d mailboxes, want 7 in 1", c.n, len(c.boxes))
	}
	// Entries of messages no longer in the view are trimmed once they
	// outnumber it by far.
	var d sortCache
	many := make([]uint32, 3000)
	for i := range many {
		many[i] = uint32(i + 1)
	}
	d.add(boxID{1, 1}, many, keys(3000), many, 10_000)
	d.add(boxID{1, 1}, []uint32{5000}, keys(1), []uint32{1, 5000}, 10_000)
	if d.n != 2 || len(d.boxes[boxID{1, 1}].keys) != 2 {
		t.Errorf("after trimming to a view of 2: %d entries, %d in the mailbox", d.n, len(d.boxes[boxID{1, 1}].keys))
	}
	// Another UIDVALIDITY of the same mailbox is another entry.
	if n := d.lookup(boxID{1, 2}, []uint32{1, 5000}, make([]*msgKeys, 2)); n != 0 {
		t.Errorf("%d keys found under a new UIDVALIDITY", n)
	}
}
