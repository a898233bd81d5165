// Command pop3floor is the floor of the POP3 RETR benchmark: the least
// work any POP3 server could do on this machine to answer pochta-bench's
// "retr -persist" load. It serves the same messages as every account's
// maildrop, from memory, each RETR's whole reply ("+OK", the dot-stuffed
// body, ".") built once at start and sent in one write: no store, no
// authentication (any USER and PASS are accepted), no per-command work but
// reading the line. Whatever Pochta or Dovecot spend above its CPU per
// message is theirs; a throughput it cannot beat, no server can.
//
//	pop3floor -dir MSGS -addr 127.0.0.1:11410
//
// MSGS is a genmail directory (CRLF messages, *.eml, served in name
// order). A manual tool, not part of `go test`; loopback only.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

func main() {
	dir := flag.String("dir", "", "directory of *.eml messages (CRLF)")
	addr := flag.String("addr", "127.0.0.1:11410", "loopback address to listen on")
	flag.Parse()
	if *dir == "" {
		log.Fatal("usage: pop3floor -dir MSGS [-addr host:port]")
	}
	d, err := load(*dir)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go d.serve(c)
	}
}

// drop is the maildrop every login gets: LIST's reply and each RETR's.
type drop struct {
	list []byte
	retr [][]byte
}

func load(dir string) (*drop, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	d := &drop{}
	var list bytes.Buffer
	var total int
	for i, name := range names {
		body, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		total += len(body)
		fmt.Fprintf(&list, "%d %d\r\n", i+1, len(body))
		d.retr = append(d.retr, reply(body))
	}
	d.list = fmt.Appendf(nil, "+OK %d messages (%d octets)\r\n%s.\r\n", len(names), total, list.Bytes())
	return d, nil
}

// reply is RETR's whole answer for body (RFC 1939 §3 byte-stuffing).
func reply(body []byte) []byte {
	b := fmt.Appendf(nil, "+OK %d octets\r\n", len(body))
	for line := range bytes.Lines(body) {
		if line[0] == '.' {
			b = append(b, '.')
		}
		b = append(b, line...)
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		b = append(b, "\r\n"...)
	}
	return append(b, ".\r\n"...)
}

func (d *drop) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 1024)
	if _, err := c.Write([]byte("+OK pop3floor ready\r\n")); err != nil {
		return
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		cmd, arg, _ := bytes.Cut(line, []byte(" "))
		var out []byte
		switch string(bytes.ToUpper(cmd)) {
		case "RETR":
			n, err := strconv.Atoi(string(arg))
			if err != nil || n < 1 || n > len(d.retr) {
				out = []byte("-ERR no such message\r\n")
			} else {
				out = d.retr[n-1]
			}
		case "LIST":
			out = d.list
		case "QUIT":
			_, _ = c.Write([]byte("+OK bye\r\n"))
			return
		default: // USER, PASS, NOOP...
			out = []byte("+OK\r\n")
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
