package e2e_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestCrashDuringIMAP kills the real `pochta serve` with SIGKILL, again
// and again, while IMAP clients APPEND messages to INBOX and another one
// flags and EXPUNGEs some and MOVEs others to Archive. Only the wire is
// used, so it holds for any IMAP engine. After each restart:
//
//   - an APPEND answered OK is there, byte for byte, unless an EXPUNGE of
//     it was answered OK; one not answered is there at most once;
//   - an EXPUNGE answered OK removed the message; a MOVE answered OK left
//     it in Archive only;
//   - no message is in both mailboxes, none twice, none half-stored.
func TestCrashDuringIMAP(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts pochta serve many times")
	}
	const iterations = 8
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	in := newInstance(t, "crash.test")
	in.addUser(imapCrashUser, crashPassword)
	c := &imapCrash{t: t, sent: map[int][]byte{}, where: map[int]string{}, pending: map[int]string{}}
	for it := range iterations {
		in.serve([]string{"imap"})
		if it == 0 {
			cl := c.login(in.addrs["imap"])
			if err := cl.Create("Archive", nil).Wait(); err != nil && !strings.Contains(err.Error(), "ALREADYEXISTS") {
				t.Fatal(err)
			}
			cl.Close()
		} else {
			c.verify(in.addrs["imap"])
		}
		c.run(in.addrs["imap"], rng)
		in.kill9()
	}
	in.serve([]string{"imap"})
	c.verify(in.addrs["imap"])
	t.Logf("%d kills: %d APPENDs (%d answered OK), %d EXPUNGEs and %d MOVEs answered OK; %d operations caught by a kill resolved to one side",
		iterations, len(c.sent), c.appended, c.expunged, c.moved, c.caught)
}

const imapCrashUser = "imap@crash.test"

type imapCrash struct {
	t  *testing.T
	mu sync.Mutex
	// The model: where each message is ("INBOX", "Archive", "" = gone),
	// and operations sent but not answered, which may have happened.
	sent    map[int][]byte
	where   map[int]string
	pending map[int]string // id -> "append", "expunge", "move"
	next    int

	appended, expunged, moved, caught int
}

func (c *imapCrash) login(addr string) *imapclient.Client {
	c.t.Helper()
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cl.Login(imapCrashUser, crashPassword).Wait(); err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func (c *imapCrash) message() (int, []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.next
	c.next++
	var b strings.Builder
	fmt.Fprintf(&b, "From: <a@crash.test>\r\nSubject: imap crash %d\r\nX-Crash-ID: %d\r\n\r\n", id, id)
	for i := 0; b.Len() < []int{300, 20 << 10, 150 << 10}[id%3]; i++ {
		fmt.Fprintf(&b, "line %d of message %d\r\n", i, id)
	}
	c.sent[id] = []byte(b.String())
	c.pending[id] = "append"
	return id, c.sent[id]
}

// run starts the clients and returns after a random time; the caller's
// kill ends them.
func (c *imapCrash) run(addr string, rng *rand.Rand) {
	for range 2 {
		go c.appender(addr)
	}
	go c.mover(addr, rand.New(rand.NewPCG(rng.Uint64(), 0)))
	time.Sleep(time.Duration(150+rng.IntN(700)) * time.Millisecond)
}

func dialQuiet(addr string) *imapclient.Client {
	cl, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil
	}
	if err := cl.Login(imapCrashUser, crashPassword).Wait(); err != nil {
		cl.Close()
		return nil
	}
	return cl
}

func (c *imapCrash) appender(addr string) {
	cl := dialQuiet(addr)
	if cl == nil {
		return
	}
	defer cl.Close()
	for {
		id, m := c.message()
		cmd := cl.Append("INBOX", int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			return
		}
		if err := cmd.Close(); err != nil {
			return
		}
		if _, err := cmd.Wait(); err != nil {
			return
		}
		c.mu.Lock()
		delete(c.pending, id)
		c.where[id] = "INBOX"
		c.appended++
		c.mu.Unlock()
	}
}

var crashIDSection = &goimap.FetchItemBodySection{Specifier: goimap.PartSpecifierHeader, HeaderFields: []string{"X-Crash-ID"}, Peek: true}

func (c *imapCrash) mover(addr string, rng *rand.Rand) {
	cl := dialQuiet(addr)
	if cl == nil {
		return
	}
	defer cl.Close()
	for {
		if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
			return
		}
		msgs, err := cl.Fetch(allSeq(), &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{crashIDSection}}).Collect()
		if err != nil {
			return
		}
		for _, m := range msgs {
			var id int
			if _, err := fmt.Sscanf(strings.TrimSpace(string(m.FindBodySection(crashIDSection))), "X-Crash-ID: %d", &id); err != nil {
				continue
			}
			uids := goimap.UIDSetNum(m.UID)
			op := []string{"expunge", "move", "keep"}[rng.IntN(3)]
			c.mu.Lock()
			known := c.where[id] == "INBOX" && c.pending[id] == ""
			if known && op != "keep" {
				c.pending[id] = op
			}
			c.mu.Unlock()
			if !known || op == "keep" {
				continue
			}
			switch op {
			case "expunge":
				if err := cl.Store(uids, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
					return
				}
				if err := cl.UIDExpunge(uids).Close(); err != nil {
					return
				}
			case "move":
				if _, err := cl.Move(uids, "Archive").Wait(); err != nil {
					return
				}
			}
			c.mu.Lock()
			delete(c.pending, id)
			if op == "expunge" {
				c.where[id] = ""
				c.expunged++
			} else {
				c.where[id] = "Archive"
				c.moved++
			}
			c.mu.Unlock()
		}
	}
}

// verify reads both mailboxes whole and checks them against the model,
// then makes what it found the new model.
func (c *imapCrash) verify(addr string) {
	t := c.t
	t.Helper()
	cl := c.login(addr)
	defer cl.Close()
	found := map[int]string{}
	full := &goimap.FetchItemBodySection{Peek: true}
	for _, mb := range []string{"INBOX", "Archive"} {
		sel, err := cl.Select(mb, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		msgs, err := cl.Fetch(allSeq(), &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{full}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			body := m.FindBodySection(full)
			_, rest, ok := strings.Cut(string(body), "\r\nX-Crash-ID: ")
			var id int
			if !ok {
				t.Fatalf("%s UID %d has no X-Crash-ID: %q", mb, m.UID, trunc(string(body)))
			}
			fmt.Sscanf(rest, "%d", &id)
			if other, dup := found[id]; dup {
				t.Fatalf("message %d is in %s and in %s", id, other, mb)
			}
			found[id] = mb
			c.mu.Lock()
			sent := c.sent[id]
			c.mu.Unlock()
			if string(body) != string(sent) {
				t.Fatalf("message %d in %s: %d octets %q, appended %d", id, mb, len(body), trunc(string(body)), len(sent))
			}
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.sent {
		want, pend, got := c.where[id], c.pending[id], found[id]
		switch pend {
		case "":
			if got != want {
				t.Fatalf("message %d: in %q, the server's answers put it in %q", id, got, want)
			}
		case "append":
			if got != "" && got != "INBOX" {
				t.Fatalf("message %d (APPEND unanswered) in %q", id, got)
			}
		case "expunge":
			if got != "" && got != want {
				t.Fatalf("message %d (EXPUNGE unanswered) in %q, was in %q", id, got, want)
			}
		case "move":
			if got != "INBOX" && got != "Archive" {
				t.Fatalf("message %d (MOVE unanswered) lost: in %q", id, got)
			}
		}
		if pend != "" {
			c.caught++
		}
		c.where[id] = got
	}
	c.pending = map[int]string{}
}

// allSeq is 1:*.
func allSeq() goimap.SeqSet {
	var s goimap.SeqSet
	s.AddRange(1, 0)
	return s
}
