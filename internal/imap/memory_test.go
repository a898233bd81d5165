package imap

import (
	"bufio"
	"net"
	"runtime"
	"strings"
	"testing"
)

// TestMemoryPerIdleIDLE measures what an idle IDLE connection costs,
// client and server side together (heap and stacks, after GC): logged in,
// INBOX selected, IDLE running. The target is 16 KiB (issue 8).
//
//	go test -run TestMemoryPerIdleIDLE -v ./internal/imap
func TestMemoryPerIdleIDLE(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	e := newEnv(t, envOptions{server: func(s *Server) { s.Logger = nil }})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	const n = 300
	start := func() net.Conn {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReaderSize(c, 16)
		_, _ = c.Write([]byte("a LOGIN alice@example.com \"correct horse\"\r\nb SELECT INBOX\r\nc IDLE\r\n"))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(l, "+ ") {
				return c
			}
		}
	}
	per := memoryPerConn(n, start)
	t.Logf("memory per idle IDLE connection: %d bytes (heap+stacks, both ends)", per)
	if per > 16<<10 {
		t.Errorf("an idle IDLE connection costs %d bytes, want at most 16 KiB", per)
	}
}

// memoryPerConn opens n connections with start and returns what each
// costs in heap and stacks; they are closed afterwards.
func memoryPerConn(n int, start func() net.Conn) int64 {
	// Warm up: the store's connections, the credentials cache and the
	// buffer pools are server-wide costs.
	for range 20 {
		start().Close()
	}
	before := liveMemory()
	conns := make([]net.Conn, 0, n)
	for range n {
		conns = append(conns, start())
	}
	after := liveMemory()
	for _, c := range conns {
		c.Close()
	}
	return (int64(after) - int64(before)) / int64(n)
}

func liveMemory() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}
