package message

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// TestBorrowReaderTakenAsIs: the libraries the MX checks call wrap what
// they are given in bufio.NewReader; a borrowed reader must come back as
// itself, or each call allocates a reader again.
func TestBorrowReaderTakenAsIs(t *testing.T) {
	br := BorrowReader(strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	if bufio.NewReader(br) != br {
		t.Fatal("bufio.NewReader wraps a borrowed reader in a new one")
	}
	if got, err := io.ReadAll(br); err != nil || string(got) != "Subject: x\r\n\r\nbody\r\n" {
		t.Fatalf("borrowed reader reads %q, %v", got, err)
	}
	ReturnReader(br)
	again := BorrowReader(strings.NewReader("next"))
	defer ReturnReader(again)
	if got, _ := io.ReadAll(again); string(got) != "next" {
		t.Fatalf("a reader borrowed again reads %q, want only its new source", got)
	}
}
