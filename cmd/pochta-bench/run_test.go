package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeMessage is one message of the in-test responder: what RETR sends
// (already stuffed and terminated) and what LIST claims.
type fakeMessage struct {
	wire     string
	listSize int
}

// responder is a tiny POP3 server on loopback, just enough to exercise the
// client; the real server's tests live with the real server.
type responder struct {
	ln       net.Listener
	messages []fakeMessage
	deletes  atomic.Int64
	logins   atomic.Int64
	wg       sync.WaitGroup
}

func startResponder(t *testing.T, msgs []fakeMessage) *responder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &responder{ln: ln, messages: msgs}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *responder) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	w.WriteString("+OK ready\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		var verb string
		var arg int
		fmt.Sscanf(strings.TrimSpace(line), "%s %d", &verb, &arg)
		total := 0
		for _, m := range s.messages {
			total += m.listSize
		}
		switch verb {
		case "USER", "PASS":
			if verb == "PASS" {
				s.logins.Add(1)
			}
			w.WriteString("+OK\r\n")
		case "STAT":
			fmt.Fprintf(w, "+OK %d %d\r\n", len(s.messages), total)
		case "UIDL", "LIST":
			w.WriteString("+OK\r\n")
			for i, m := range s.messages {
				if verb == "UIDL" {
					fmt.Fprintf(w, "%d uid%d\r\n", i+1, i+1)
				} else {
					fmt.Fprintf(w, "%d %d\r\n", i+1, m.listSize)
				}
			}
			w.WriteString(".\r\n")
		case "RETR":
			if arg < 1 || arg > len(s.messages) {
				w.WriteString("-ERR no such message\r\n")
				break
			}
			w.WriteString("+OK\r\n" + s.messages[arg-1].wire)
		case "DELE":
			s.deletes.Add(1)
			w.WriteString("+OK\r\n")
		case "QUIT":
			w.WriteString("+OK bye\r\n")
			w.Flush()
			return
		default:
			w.WriteString("-ERR unknown\r\n")
		}
		w.Flush()
	}
}

// result runs the tool and returns the RESULT line's fields.
func result(t *testing.T, args ...string) map[string]string {
	t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			fields := map[string]string{}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				fields[k] = v
			}
			return fields
		}
	}
	t.Fatalf("no RESULT line in:\n%s", out.String())
	return nil
}

func wantFields(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

var testMessages = []fakeMessage{
	{wire: "Subject: a\r\n\r\nhello\r\n.\r\n", listSize: 21},
	{wire: "..\r\n..x\r\n.\r\n", listSize: 7},
	{wire: "short\r\n.\r\n", listSize: 99},   // LIST lies: a mismatch
	{wire: "bare\nlf\r\n.\r\n", listSize: 9}, // bare LF: a mismatch
	{wire: strings.Repeat("y", 70000) + "\r\n.\r\n", listSize: 70002},
}

func TestRetrCountsMismatches(t *testing.T) {
	s := startResponder(t, testMessages)
	got := result(t, "-addr", s.ln.Addr().String(), "-mode", "retr", "-c", "2", "-n", "3")
	wantFields(t, got, map[string]string{
		"sessions":   "3",
		"messages":   "9", // 3 good messages per session
		"mismatches": "6",
		"errors":     "6",
		"bytes":      fmt.Sprint(3 * (21 + 7 + 7 + 9 + 70002)),
	})
}

// retr -persist logs in once per worker and downloads again and again.
func TestRetrPersist(t *testing.T) {
	s := startResponder(t, testMessages[:2])
	got := result(t, "-addr", s.ln.Addr().String(), "-mode", "retr", "-persist", "-c", "2", "-n", "6")
	wantFields(t, got, map[string]string{"sessions": "6", "messages": "12", "errors": "0"})
	// One login per worker at most: without -persist each of the 6
	// sessions logs in. A worker may take every session before the
	// other starts (they share one count), so 1 is right too.
	if n := s.logins.Load(); n < 1 || n > 2 {
		t.Errorf("responder saw %d logins, want 1 or 2 (one per worker that ran)", n)
	}
}

func TestSessionsAndFetchdel(t *testing.T) {
	s := startResponder(t, testMessages[:2])
	got := result(t, "-addr", s.ln.Addr().String(), "-mode", "sessions", "-c", "4", "-n", "20")
	wantFields(t, got, map[string]string{"sessions": "20", "errors": "0"})

	got = result(t, "-addr", s.ln.Addr().String(), "-mode", "fetchdel", "-c", "2",
		"-users", "u%d@x", "-nusers", "5", "-n", "2", "-refill", "true")
	wantFields(t, got, map[string]string{"sessions": "10", "messages": "20", "errors": "0"})
	if d := s.deletes.Load(); d != 20 {
		t.Errorf("responder saw %d DELE, want 20", d)
	}
}

func TestStat100kAndIdle(t *testing.T) {
	s := startResponder(t, testMessages[:2])
	got := result(t, "-addr", s.ln.Addr().String(), "-mode", "stat100k", "-n", "2")
	wantFields(t, got, map[string]string{"messages": "2"})

	got = result(t, "-addr", s.ln.Addr().String(), "-mode", "idle", "-c", "20", "-hold", "0s")
	wantFields(t, got, map[string]string{"connections": "20", "errors": "0"})
}

func TestRefusedServerStopsWorkers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	got := result(t, "-addr", addr, "-mode", "sessions", "-c", "2", "-duration", "1h")
	wantFields(t, got, map[string]string{"sessions": "0", "errors": fmt.Sprint(2 * maxConsecutiveErrors)})
}

func TestWorkerAccountsAreDisjoint(t *testing.T) {
	all := make([]account, 10)
	for i := range all {
		all[i] = account{User: fmt.Sprint(i)}
	}
	seen := map[string]int{}
	for w := range 4 {
		for _, a := range workerAccounts(all, w, 4) {
			seen[a.User]++
		}
	}
	if len(seen) != 10 {
		t.Errorf("workers cover %d of 10 accounts", len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("account %s used by %d workers", u, n)
		}
	}
	if got := workerAccounts(all[:2], 3, 4); len(got) != 1 || got[0].User != "1" {
		t.Errorf("with fewer accounts than workers, worker 3 got %v, want account 1", got)
	}
}
