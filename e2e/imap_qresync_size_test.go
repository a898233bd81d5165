package e2e_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
)

// TestQresyncResyncSize measures, side by side with Dovecot, what issue 9
// bounds: a client comes back to a 10,000-message INBOX after another
// client made 100 changes (50 flags set, 50 messages expunged) and is
// brought up to date by one SELECT (QRESYNC ...); the octets of that
// exchange must stay under 20 KB.
func TestQresyncResyncSize(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 messages per server")
	}
	const user, pass = "resync@example.test", "resync-pass-1"
	measure := func(t *testing.T, addr string) int {
		c := imapSession(t, addr, user, pass)
		// MULTIAPPEND (RFC 3502), 500 messages per command.
		for i := 0; i < 10000; i += 500 {
			args := []any{"APPEND", "INBOX"}
			for j := i; j < i+500; j++ {
				args = append(args, imaptest.LitPlus(fmt.Sprintf(
					"From: a@example.org\r\nSubject: message %d\r\nMessage-ID: <r%d@example.org>\r\n\r\nbody %d\r\n", j, j, j)))
			}
			if _, err := c.MustOK(args...); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.MustOK("ENABLE", "QRESYNC"); err != nil {
			t.Fatal(err)
		}
		res, err := c.MustOK("SELECT", "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		var validity, highest string
		for _, r := range res.Untagged {
			switch r.Code {
			case "UIDVALIDITY":
				validity = r.CodeArgs[0].S
			case "HIGHESTMODSEQ":
				highest = r.CodeArgs[0].S
			}
		}
		if validity == "" || highest == "" {
			t.Fatalf("SELECT without UIDVALIDITY or HIGHESTMODSEQ: %v", res.Untagged)
		}
		c.Close()

		other := imapSession(t, addr, user, pass)
		var flagged, deleted []string
		for i := range 50 {
			flagged = append(flagged, strconv.Itoa(i*200+7))
			deleted = append(deleted, strconv.Itoa(i*200+107))
		}
		for _, cmd := range [][]any{
			{"SELECT", "INBOX"},
			{"UID", "STORE", strings.Join(flagged, ","), "+FLAGS.SILENT", `(\Flagged)`},
			{"UID", "STORE", strings.Join(deleted, ","), "+FLAGS.SILENT", `(\Deleted)`},
			{"EXPUNGE"},
		} {
			if _, err := other.MustOK(cmd...); err != nil {
				t.Fatal(err)
			}
		}
		other.Close()

		c = imapSession(t, addr, user, pass)
		if _, err := c.MustOK("ENABLE", "QRESYNC"); err != nil {
			t.Fatal(err)
		}
		param := fmt.Sprintf("(QRESYNC (%s %s 1:10000))", validity, highest)
		res, err = c.MustOK("SELECT", "INBOX", param)
		if err != nil {
			t.Fatal(err)
		}
		size := len(c.NextTag()) + len(" SELECT INBOX ") + len(param) + 2
		fetches, vanished := 0, 0
		for _, r := range append(res.Untagged, res.Status) {
			size += len(r.Raw)
			switch r.Name {
			case "FETCH":
				fetches++
			case "VANISHED":
				vanished += countUIDs(t, r.Raw)
			}
		}
		if fetches != 50 || vanished != 50 {
			t.Errorf("%d FETCH and %d UIDs vanished, want 50 and 50", fetches, vanished)
		}
		return size
	}
	var pochta, dovecot int
	t.Run("pochta", func(t *testing.T) {
		in := newInstance(t, "example.test")
		in.addUser(user, pass)
		in.serve([]string{"imap"})
		pochta = measure(t, in.addrs["imap"])
		if pochta >= 20<<10 {
			t.Errorf("the resync took %d octets, issue 9 wants under 20 KB", pochta)
		}
	})
	t.Run("dovecot", func(t *testing.T) {
		d := startDovecot(t, map[string]string{user: pass})
		dovecot = measure(t, d.addr)
	})
	t.Logf("SELECT (QRESYNC) of 10,000 messages after 50 flag changes and 50 expunges: Pochta %d octets, Dovecot %d", pochta, dovecot)
}

var uidSetRE = regexp.MustCompile(`(\d+)(?::(\d+))?`)

// countUIDs counts the UIDs of "* VANISHED (EARLIER) set".
func countUIDs(t *testing.T, raw string) int {
	t.Helper()
	set := raw[strings.LastIndexByte(strings.TrimRight(raw, "\r\n"), ' ')+1:]
	n := 0
	for _, m := range uidSetRE.FindAllStringSubmatch(set, -1) {
		lo, _ := strconv.Atoi(m[1])
		hi := lo
		if m[2] != "" {
			hi, _ = strconv.Atoi(m[2])
		}
		n += hi - lo + 1
	}
	return n
}
