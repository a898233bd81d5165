// Package prototest holds test helpers shared by the protocol packages.
package prototest

import (
	"io"
	"net"
	"testing"
	"time"
)

// ServeBytes runs serve on one end of a net.Pipe, writes each chunk of
// input to the other end (discarding what the server answers), closes it
// and waits for serve to return: a session that does not end within
// timeout fails the test as hanging. Fuzz targets feed sessions with it.
func ServeBytes(t testing.TB, timeout time.Duration, serve func(net.Conn), input ...[]byte) {
	t.Helper()
	cli, srv := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		serve(srv)
	}()
	go func() { _, _ = io.Copy(io.Discard, cli) }()
	_ = cli.SetWriteDeadline(time.Now().Add(timeout / 4))
	for _, b := range input {
		if _, err := cli.Write(b); err != nil {
			break
		}
	}
	cli.Close()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatalf("session hangs on %q", input)
	}
}
