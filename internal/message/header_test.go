package message

import (
	"bufio"
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFieldNames(t *testing.T) {
	h := "From: a@b\r\nSubject: x\r\n  folded: not a field\r\n\tmore\r\nmessage-id :<x@y>\r\nno colon here\r\n\r\n"
	if got, want := FieldNames([]byte(h)), []string{"From", "Subject", "message-id"}; !slices.Equal(got, want) {
		t.Errorf("FieldNames = %q, want %q", got, want)
	}
	if !HasField([]byte(h), "Message-ID") || HasField([]byte(h), "Date") || HasField([]byte(h), "folded") {
		t.Error("HasField is wrong")
	}
}

func TestAppendFields(t *testing.T) {
	const add = "Date: now\r\n"
	for _, c := range []struct{ in, want string }{
		{"From: a\r\n\r\n", "From: a\r\nDate: now\r\n\r\n"},
		{"From: a\n\n", "From: a\nDate: now\r\n\n"},
		{"From: a\r\n", "From: a\r\nDate: now\r\n"}, // all header, no body
		{"From: a", "From: a\r\nDate: now\r\n"},     // cut off mid-line
		{"\r\n", "Date: now\r\n\r\n"},               // no header at all
		{"", "Date: now\r\n"},                       // empty message
		{"From: a\r\n folded\r\n\r\n", "From: a\r\n folded\r\nDate: now\r\n\r\n"},
	} {
		if got := string(AppendFields([]byte(c.in), add)); got != c.want {
			t.Errorf("AppendFields(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestReadHeader(t *testing.T) {
	msg := "From: a\r\nSubject: " + strings.Repeat("x", 10000) + "\r\n\r\nbody\r\n\r\nmore\r\n"
	br := bufio.NewReaderSize(strings.NewReader(msg), 16)
	h, err := ReadHeader(br, 1<<20)
	if err != nil || string(h) != msg[:strings.Index(msg, "\r\n\r\n")+4] {
		t.Fatalf("ReadHeader = %q, %v", h, err)
	}
	rest := new(bytes.Buffer)
	rest.ReadFrom(br)
	if rest.String() != "body\r\n\r\nmore\r\n" {
		t.Errorf("body left = %q", rest)
	}
	if _, err := ReadHeader(bufio.NewReader(strings.NewReader(msg)), 100); !errors.Is(err, ErrHeaderTooLarge) {
		t.Errorf("over the bound: %v", err)
	}
}

// FuzzHeader: for any input, the header section ReadHeader finds plus
// what it leaves is the input, and AppendFields keeps every field and
// adds exactly one.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{"From: a\r\n\r\nb", "\r\n", "", "a", "X: y\n z\n\nbody", "From: a\r\n\r"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		br := bufio.NewReaderSize(strings.NewReader(s), 16)
		h, err := ReadHeader(br, 1<<16)
		if err != nil {
			return
		}
		rest := new(bytes.Buffer)
		rest.ReadFrom(br)
		if string(h)+rest.String() != s {
			t.Fatalf("header %q + rest %q != input", h, rest)
		}
		before := FieldNames(h)
		after := FieldNames(AppendFields(h, "Added-Field: v\r\n"))
		if len(after) < 1 || after[len(after)-1] != "Added-Field" || !slices.Equal(after[:len(after)-1], before) {
			t.Fatalf("AppendFields(%q): fields %q -> %q", h, before, after)
		}
	})
}
