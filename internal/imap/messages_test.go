package imap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
)

func TestStoreSearchCopyMoveExpunge(t *testing.T) {
	e := newEnv(t, envOptions{})
	big := testMessage(5) + strings.Repeat("padding line\r\n", 200)
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3), testMessage(4), big)
	c := e.client(testUser, testPass, nil)
	e.selectInbox(c)

	// STORE +FLAGS, -FLAGS, FLAGS and .SILENT.
	msgs, err := c.Store(goimap.SeqSetNum(1, 2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd,
		Flags: []goimap.Flag{goimap.FlagSeen, "$Work"}}, nil).Collect()
	if err != nil || len(msgs) != 2 || !slices.Contains(msgs[0].Flags, goimap.FlagSeen) {
		t.Fatalf("STORE +FLAGS: %+v, %v", msgs, err)
	}
	if _, err := c.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsDel, Flags: []goimap.Flag{"$work"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	msgs, err = c.Store(goimap.SeqSetNum(3), &goimap.StoreFlags{Op: goimap.StoreFlagsSet, Silent: true,
		Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Collect()
	if err != nil || len(msgs) != 0 {
		t.Errorf("STORE .SILENT answered %+v, %v", msgs, err)
	}
	flags := func() [][]goimap.Flag {
		t.Helper()
		msgs, err := c.Fetch(goimap.SeqSetNum(1, 2, 3, 4, 5), &goimap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var out [][]goimap.Flag
		for _, m := range msgs {
			slices.Sort(m.Flags)
			out = append(out, m.Flags)
		}
		return out
	}
	// The messages are new to this IMAP4rev1 session: \Recent (RFC 3501
	// §2.3.2; the old engine never set it).
	want := fmt.Sprint([][]goimap.Flag{{"$Work", `\Recent`, `\Seen`}, {`\Recent`, `\Seen`}, {`\Flagged`, `\Recent`}, {`\Recent`}, {`\Recent`}})
	if got := fmt.Sprint(flags()); got != want {
		t.Errorf("flags %s, want %s", got, want)
	}

	// SEARCH: flags, size, header, body, text, dates, OR, NOT, UID.
	search := func(c0 *goimap.SearchCriteria) []uint32 {
		t.Helper()
		d, err := c.Search(c0, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		return d.AllSeqNums()
	}
	cases := []struct {
		name string
		c    goimap.SearchCriteria
		want []uint32
	}{
		{"SEEN", goimap.SearchCriteria{Flag: []goimap.Flag{goimap.FlagSeen}}, []uint32{1, 2}},
		{"UNSEEN", goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}}, []uint32{3, 4, 5}},
		{"KEYWORD", goimap.SearchCriteria{Flag: []goimap.Flag{"$work"}}, []uint32{1}},
		{"LARGER", goimap.SearchCriteria{Larger: 1000}, []uint32{5}},
		{"SMALLER", goimap.SearchCriteria{Smaller: 1000}, []uint32{1, 2, 3, 4}},
		{"HEADER Subject", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "Subject", Value: "MESSAGE 3"}}}, []uint32{3}},
		{"FROM", goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{{Key: "From", Value: "sender4@"}}}, []uint32{4}},
		{"BODY", goimap.SearchCriteria{Body: []string{"padding LINE"}}, []uint32{5}},
		{"BODY not header", goimap.SearchCriteria{Body: []string{"Subject: message"}}, nil},
		{"TEXT", goimap.SearchCriteria{Text: []string{"message 2"}}, []uint32{2}},
		{"SINCE", goimap.SearchCriteria{Since: testDate}, []uint32{1, 2, 3, 4, 5}},
		{"BEFORE", goimap.SearchCriteria{Before: testDate}, nil},
		{"SENTBEFORE", goimap.SearchCriteria{SentBefore: testDate.Add(48 * time.Hour)}, []uint32{1, 2, 3, 4, 5}},
		{"OR", goimap.SearchCriteria{Or: [][2]goimap.SearchCriteria{{{Flag: []goimap.Flag{goimap.FlagFlagged}}, {Larger: 1000}}}}, []uint32{3, 5}},
		{"NOT", goimap.SearchCriteria{Not: []goimap.SearchCriteria{{Flag: []goimap.Flag{goimap.FlagSeen}}}}, []uint32{3, 4, 5}},
		{"UID", goimap.SearchCriteria{UID: []goimap.UIDSet{goimap.UIDSetNum(2, 4)}}, []uint32{2, 4}},
		{"seq 4:*", goimap.SearchCriteria{SeqNum: []goimap.SeqSet{{goimap.SeqRange{Start: 4, Stop: 0}}}}, []uint32{4, 5}},
	}
	for _, tc := range cases {
		if got := search(&tc.c); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s = %v, want %v", tc.name, got, tc.want)
		}
	}
	// ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).
	d, err := c.UIDSearch(&goimap.SearchCriteria{NotFlag: []goimap.Flag{goimap.FlagSeen}},
		&goimap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true, ReturnSave: true}).Wait()
	if err != nil || d.Min != 3 || d.Max != 5 || d.Count != 3 {
		t.Errorf("ESEARCH MIN MAX COUNT SAVE: %+v, %v", d, err)
	}
	// The Go client drops answers to "$" (it cannot match them to the
	// set it sent), so check the reference raw.
	r, _ := e.raw(e.addr)
	r.cmd(`LOGIN alice@example.com "correct horse"`)
	r.cmd("SELECT INBOX")
	if _, status := r.cmd("SEARCH RETURN (SAVE) SEEN"); !strings.HasPrefix(status, "OK") {
		t.Errorf("SEARCH RETURN (SAVE): %q", status)
	}
	if lines, status := r.cmd("UID FETCH $ (UID)"); len(lines) != 2 || lines[0] != "* 1 FETCH (UID 1)" {
		t.Errorf("UID FETCH $: %q %q", lines, status)
	}
	r.cmd("LOGOUT")

	// COPY with COPYUID; MOVE with COPYUID and EXPUNGE.
	cd, err := c.Copy(goimap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.UIDValidity == 0 || fmt.Sprint(cd.SourceUIDs) != "1:2" || fmt.Sprint(cd.DestUIDs) != "1:2" {
		t.Errorf("COPY: %+v, %v", cd, err)
	}
	if _, err := c.Copy(goimap.SeqSetNum(1), "Nope").Wait(); err == nil || !strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to a missing mailbox: %v", err)
	}
	md, err := c.Move(goimap.SeqSetNum(4), "Trash").Wait()
	if err != nil || fmt.Sprint(md.SourceUIDs) != "4" || fmt.Sprint(md.DestUIDs) != "1" {
		t.Errorf("MOVE: %+v, %v", md, err)
	}
	if n := c.Mailbox().NumMessages; n != 4 {
		t.Errorf("after MOVE the client counts %d messages, want 4", n)
	}

	// EXPUNGE removes only \Deleted; UID EXPUNGE only the given UIDs.
	if _, err := c.Store(goimap.SeqSetNum(1, 2, 3), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true,
		Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	gone, err := c.UIDExpunge(goimap.UIDSetNum(2, 5)).Collect()
	if err != nil || !slices.Equal(gone, []uint32{2}) {
		t.Errorf("UID EXPUNGE 2,5 = %v, %v; want seq 2", gone, err)
	}
	gone, err = c.Expunge().Collect()
	if err != nil || len(gone) != 2 {
		t.Errorf("EXPUNGE = %v, %v; want two", gone, err)
	}
	uids, err := c.UIDSearch(&goimap.SearchCriteria{}, nil).Wait()
	if err != nil || !slices.Equal(uids.AllUIDs(), []goimap.UID{5}) {
		t.Errorf("left: %v, %v; want UID 5", uids.AllUIDs(), err)
	}

	// EXAMINE is read-only: STORE and EXPUNGE refused, CLOSE expunges nothing.
	if _, err := c.Select("Archive", &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect(); err == nil {
		t.Errorf("STORE in an EXAMINEd mailbox succeeded")
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE of an EXAMINEd mailbox: %v", err)
	}
}

func TestTwoSessions(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	type update struct {
		kind string
		n    uint32
		seen bool
	}
	updates := make(chan update, 100)
	h := &imapclientHandler{updates: func(kind string, n uint32, flags []goimap.Flag) {
		updates <- update{kind, n, slices.Contains(flags, goimap.FlagSeen)}
	}}
	a := e.client(testUser, testPass, nil)
	b := e.client(testUser, testPass, h.handler())
	e.selectInbox(a)
	e.selectInbox(b)
	next := func(what string) update {
		t.Helper()
		select {
		case u := <-updates:
			return u
		case <-time.After(10 * time.Second):
			t.Fatalf("no update for %s", what)
		}
		return update{}
	}

	// A's flag change reaches B at B's next NOOP.
	if _, err := a.Store(goimap.SeqSetNum(2), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Flags: []goimap.Flag{goimap.FlagSeen}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if u := next("flags"); u != (update{"fetch", 2, true}) {
		t.Errorf("B got %+v, want FETCH 2 (\\Seen)", u)
	}
	// A's expunge reaches B as EXPUNGE.
	if _, err := a.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if u := next("expunge"); u.kind != "expunge" || u.n != 1 {
		t.Errorf("B got %+v, want EXPUNGE 1", u)
	}

	// New mail is pushed to B while it IDLEs, and so is A's expunge.
	idle, err := b.Idle()
	if err != nil {
		t.Fatal(err)
	}
	e.deliver(testUser, testMessage(4))
	if u := next("delivery during IDLE"); u.kind != "exists" || u.n != 3 {
		t.Errorf("B got %+v during IDLE, want EXISTS 3", u)
	}
	if _, err := a.Store(goimap.SeqSetNum(1), &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	// The flag change comes first, then the expunge.
	if u := next("flags during IDLE"); u.kind != "fetch" || u.n != 1 {
		t.Errorf("B got %+v during IDLE, want FETCH 1", u)
	}
	if _, err := a.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	if u := next("expunge during IDLE"); u.kind != "expunge" || u.n != 1 {
		t.Errorf("B got %+v during IDLE, want EXPUNGE 1", u)
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	// B's view is now consistent: 2 messages, UIDs 3 and 4.
	msgs, err := b.Fetch(goimap.SeqSetNum(1, 2), &goimap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 2 || msgs[0].UID != 3 || msgs[1].UID != 4 {
		t.Errorf("B's view after IDLE: %+v, %v", msgs, err)
	}
}
