package fetch

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// A server that never ends a multi-line response (an endless UIDL
// listing) fails the command once the listing passes its bound, instead
// of growing the fetcher's memory for as long as it sends.
func TestPOP3ListingBounded(t *testing.T) {
	old := maxPOP3Listing
	maxPOP3Listing = 64 << 10
	t.Cleanup(func() { maxPOP3Listing = old })
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		fmt.Fprint(server, "+OK fake\r\n")
		buf := make([]byte, 512)
		server.Read(buf) // UIDL
		fmt.Fprint(server, "+OK\r\n")
		line := strings.Repeat("x", 100)
		for i := 1; ; i++ {
			if _, err := fmt.Fprintf(server, "%d %s\r\n", i, line); err != nil {
				return
			}
		}
	}()
	c, err := newPOP3Client(client, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.list()
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("list of an endless UIDL listing: %v, want a too-long error", err)
	}
}
