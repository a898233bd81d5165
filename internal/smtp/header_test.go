package smtp

import (
	"strings"
	"testing"
)

// A header section too large to check is refused for good (552 5.3.4),
// not with a temporary 451 the sender would retry for days.
func TestHugeHeaderSectionIsPermanent(t *testing.T) {
	z, _ := authZone(t)
	e := newEnv(t, withChecker(z, false))
	c := e.dial(ModeMX)
	msg := strings.Repeat("X-Filler: some header field value\r\n", 100_000) + "\r\nbody\r\n"
	err := send(c, "big@sender.test", []string{"alice@example.org"}, msg)
	wantCode(t, "100,000-line header section", err, 552, "5.3.4")
	if got := e.inbox("alice@example.org"); len(got) != 0 {
		t.Errorf("stored %d messages", len(got))
	}
}

// The 250 after the data is our own text and names the id the Received
// field carries (not go-smtp's "OK: queued"), for DATA and BDAT alike.
func TestAcceptedReplyNamesTheID(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.raw(ModeMX)
	r.send("EHLO x\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250 ", "250 ", "250 ", "354 "} {
		r.expect(want)
	}
	r.send("Subject: id\r\n\r\nx\r\n.\r\n")
	got := r.expect("250 2.0.0 Message accepted for delivery, id ")
	r.send("MAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nBDAT 3 LAST\r\nx\r\n")
	r.expect("250 ")
	r.expect("250 ")
	r.expect("250 2.0.0 Message accepted for delivery, id ")
	id := strings.TrimPrefix(got, "250 2.0.0 Message accepted for delivery, id ")
	if in := e.inbox("alice@example.org"); len(in) != 2 || !strings.Contains(in[0], " id "+id) {
		t.Errorf("the Received field lacks id %s: %q", id, in)
	}
}
