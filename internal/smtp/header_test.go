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
