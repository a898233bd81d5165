package prototest

import (
	"net"
	"testing"
)

// ServeLoopback listens on a loopback port until the test ends and runs
// session on each connection, in a goroutine of its own (session closes
// the connection). It returns the address: the scripted servers of tests
// ("host:port").
func ServeLoopback(t testing.TB, session func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go session(c)
		}
	}()
	return ln.Addr().String()
}
