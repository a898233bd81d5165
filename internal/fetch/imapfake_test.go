package fetch

import (
	"bufio"
	"fmt"
	"net"
	"strings"
)

// fakeIMAP is a scripted IMAP server holding one message in INBOX
// (UIDVALIDITY 7, UID 1), for the cases real servers do not produce: it
// answers LOGIN, LIST, SELECT/EXAMINE, UID SEARCH and the envelope FETCH
// itself, and hands the FETCH of the body (and UID SEARCH, when set)
// to the test (the fetcher asks for bodies by sequence number: FETCH 1).
type fakeIMAP struct {
	size int // the message's RFC822.SIZE
	// search answers UID SEARCH; nil answers "* SEARCH 1". Returning
	// false ends the session.
	search func(c net.Conn, tag string) bool
	// meta answers the envelope UID FETCH; nil answers for the one
	// message.
	meta func(c net.Conn, tag string) bool
	// body answers the FETCH of the body (cmd is the command after the
	// tag, upper-cased); returning false ends the session.
	body func(c net.Conn, tag, cmd string) bool
	// exists is the number of messages SELECT announces; 0 is 1.
	exists int
}

func (f *fakeIMAP) session(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1] fake\r\n")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch cmd := strings.ToUpper(rest); {
		case strings.HasPrefix(cmd, "LOGIN"):
			fmt.Fprintf(c, "%s OK done\r\n", tag)
		case strings.HasPrefix(cmd, "LIST"):
			fmt.Fprintf(c, "* LIST () \"/\" INBOX\r\n%s OK done\r\n", tag)
		case strings.HasPrefix(cmd, "SELECT"), strings.HasPrefix(cmd, "EXAMINE"):
			fmt.Fprintf(c, "* %d EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n%s OK [READ-ONLY] done\r\n", max(f.exists, 1), tag)
		case strings.HasPrefix(cmd, "UID SEARCH") && f.search != nil:
			if !f.search(c, tag) {
				return
			}
		case strings.HasPrefix(cmd, "UID SEARCH"):
			fmt.Fprintf(c, "* SEARCH 1\r\n%s OK done\r\n", tag)
		case strings.HasPrefix(cmd, "UID FETCH") && strings.Contains(cmd, "ENVELOPE") && f.meta != nil:
			if !f.meta(c, tag) {
				return
			}
		case strings.HasPrefix(cmd, "UID FETCH") && strings.Contains(cmd, "ENVELOPE"):
			fmt.Fprintf(c, "* 1 FETCH (UID 1 RFC822.SIZE %d INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" "+
				"ENVELOPE (NIL \"fake\" NIL NIL NIL NIL NIL NIL NIL \"<fake@example.org>\"))\r\n%s OK done\r\n", f.size, tag)
		case strings.HasPrefix(cmd, "UID FETCH"), strings.HasPrefix(cmd, "FETCH"):
			if !f.body(c, tag, cmd) {
				return
			}
		case strings.HasPrefix(cmd, "LOGOUT"):
			fmt.Fprintf(c, "* BYE bye\r\n%s OK done\r\n", tag)
			return
		default:
			fmt.Fprintf(c, "%s BAD what\r\n", tag)
		}
	}
}
