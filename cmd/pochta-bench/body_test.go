package main

import (
	"bufio"
	"errors"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		wire    string
		want    int64
		wantErr error
		rest    string // what must be left unread
	}{
		{name: "empty body", wire: ".\r\n", want: 0},
		{name: "plain lines", wire: "a\r\nbc\r\n.\r\n", want: 7},
		{name: "stuffed dot line", wire: "..\r\n.\r\n", want: 3},
		{name: "stuffed dot text", wire: "..hidden\r\nx\r\n.\r\n", want: 12},
		{name: "dot only unstuffed at line start", wire: "a.b\r\n.\r\n", want: 5},
		{name: "leaves next reply", wire: "x\r\n.\r\n+OK next\r\n", want: 3, rest: "+OK next\r\n"},
		{name: "empty lines", wire: "\r\n\r\n.\r\n", want: 4},
		{name: "cut off", wire: "a\r\nb\r\n", want: 6, wantErr: errUnterminated},
		{name: "bare LF", wire: "a\nb\r\n.\r\n", want: 5, wantErr: errBareLF},
		{name: "terminator needs CRLF", wire: ".\n.\r\n", want: 1, wantErr: errBareLF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tt.wire))
			got, err := readBody(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("octets = %d, want %d", got, tt.want)
			}
			rest := make([]byte, 100)
			n, _ := r.Read(rest)
			if string(rest[:n]) != tt.rest {
				t.Errorf("left %q unread, want %q", rest[:n], tt.rest)
			}
		})
	}
}

// TestReadBodyLongLines checks lines longer than the reader's buffer, which
// arrive in fragments: only a line's first fragment may lose a stuffed dot,
// and a CR ending one fragment pairs with the LF starting the next.
func TestReadBodyLongLines(t *testing.T) {
	long := strings.Repeat("x", 40) // the reader below buffers 16 bytes
	tests := []struct {
		name string
		body string // un-stuffed message
		wire string
	}{
		{name: "long line", body: long + "\r\n", wire: long + "\r\n.\r\n"},
		{name: "long stuffed line", body: "." + long + "\r\n", wire: ".." + long + "\r\n.\r\n"},
		{name: "dot inside long line", body: long[:20] + "." + long + "\r\n", wire: long[:20] + "." + long + "\r\n.\r\n"},
		{name: "CR at fragment end", body: long[:15] + "\r\n", wire: long[:15] + "\r\n.\r\n"},
		{name: "dot after fragment", body: long[:16] + ".\r\n", wire: long[:16] + ".\r\n.\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tt.wire), 16)
			got, err := readBody(r)
			if err != nil {
				t.Fatal(err)
			}
			if got != int64(len(tt.body)) {
				t.Errorf("octets = %d, want %d", got, len(tt.body))
			}
		})
	}
}
