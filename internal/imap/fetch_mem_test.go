package imap

import (
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestFetchBoundedMemory fetches sections of a large two-part message
// (whole body, a partial of the text part, the base64 part decoded, its
// decoded size, the structure): what the server allocates must not grow
// with the message, as no section is copied whole. The client discards
// literals as they come.
func TestFetchBoundedMemory(t *testing.T) {
	part := int64(10 << 20)
	if raceEnabled {
		part /= 10
	}
	e := newEnv(t, envOptions{})
	body := io.MultiReader(
		strings.NewReader("Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"),
		&repeatReader{s: "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n", n: part},
		strings.NewReader("\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
		&repeatReader{s: "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n", n: part / 78 * 78},
		strings.NewReader("\r\n--b--\r\n"))
	a := e.account(testUser)
	if err := e.store.Deliver(context.Background(), store.Delivery{
		Recipients: []store.Recipient{{AccountID: a.ID}}, Body: body}); err != nil {
		t.Fatal(err)
	}
	c := newFraming(t, e.addr)
	c.run("a LOGIN " + testUser + ` "` + testPass + `"`)
	c.run("b EXAMINE INBOX")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if n := c.run("c FETCH 1 (BODYSTRUCTURE BODY.PEEK[] BODY.PEEK[1]<1000.5000000> BINARY.PEEK[2] BINARY.SIZE[2])"); n != 1 {
		t.Fatalf("%d FETCH responses", n)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("FETCH of a %d MB message allocated %d KB", 2*part>>20, alloc>>10)
	if alloc > 4<<20 {
		t.Errorf("allocated %d octets for sections of a %d octet message, want at most 4 MiB", alloc, 2*part)
	}
}
