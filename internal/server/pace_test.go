package server

import (
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestPaceDeadlines(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Pacing{LineTimeout: time.Minute, MinRate: 1000, MaxSession: time.Hour}.Start(t0)
	// Waiting for a command: the protocol's idle timeout.
	if got := p.ReadDeadline(t0, 5*time.Minute); !got.Equal(t0.Add(5 * time.Minute)) {
		t.Fatalf("idle: %v", got)
	}
	// A burst started: the rest within LineTimeout plus its size at MinRate,
	// never extended by later reads of a drip.
	p.Received(t0.Add(time.Second), 1)
	for i := 2; i < 30; i++ {
		now := t0.Add(time.Duration(i) * 5 * time.Second)
		if got, want := p.ReadDeadline(now, 5*time.Minute), t0.Add(time.Second+time.Minute+time.Duration(i-1)*time.Millisecond); !got.Equal(want) {
			t.Fatalf("drip read %d: deadline %v, want %v", i, got, want)
		}
		p.Received(now, 1)
	}
	// A reply starts a new burst.
	p.Replied()
	now := t0.Add(10 * time.Minute)
	if got := p.ReadDeadline(now, 5*time.Minute); !got.Equal(now.Add(5 * time.Minute)) {
		t.Fatalf("after reply: %v", got)
	}
	// Data at the minimum rate goes on; 1 MB has 60s + 1000s.
	p.Received(now, 1_000_000)
	if got, want := p.ReadDeadline(now, 3*time.Minute), now.Add(3*time.Minute); !got.Equal(want) {
		t.Fatalf("fast data: %v, want the per-read bound %v", got, want)
	}
	// Nothing outlives the session.
	late := t0.Add(59 * time.Minute)
	p.Replied()
	if got := p.ReadDeadline(late, 5*time.Minute); !got.Equal(t0.Add(time.Hour)) {
		t.Fatalf("lifetime: %v", got)
	}
	if !p.Expired(t0.Add(time.Hour)) || p.Expired(late) {
		t.Fatal("Expired")
	}
}

// A slow-drip client on a PacedConn is cut off at LineTimeout, on a real
// socket, although every single byte arrives well within the idle timeout.
func TestPacedConnCutsDrip(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		for ctx.Err() == nil {
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	pc := NewPacedConn(sc, Pacing{LineTimeout: 300 * time.Millisecond, MinRate: 1 << 20},
		func() time.Duration { return time.Minute })
	start := time.Now()
	_, err = io.Copy(io.Discard, pc)
	if !os.IsTimeout(err) {
		t.Fatalf("drip ended with %v, want a timeout", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Fatalf("cut after %v, want about 300ms", el)
	}
}
