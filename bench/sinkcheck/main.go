// Command sinkcheck compares what a receiving server stored with the
// messages that were sent: every message arrived exactly once (matched by
// Message-ID) and its body is byte-identical to the source. It reads
// smtp-sink dump files (-d) or Maildir files: a header section (the
// receiver's own fields first), a blank line, the body, LF line ends.
//
//	sinkcheck -src MSGDIR -got DIR
//
// It prints one line, RESULT sent=N received=N distinct=N duplicates=N
// missing=N body_mismatch=N, and exits 1 unless all arrived once, intact.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"regexp"
)

var messageID = regexp.MustCompile(`(?mi)^Message-ID:\s*(<[^>\r\n]*>)`)

// split returns a message's Message-ID and its body with LF line ends.
func split(b []byte) (id string, body []byte) {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		return "", nil
	}
	if m := messageID.FindSubmatch(b[:i+1]); m != nil {
		id = string(m[1])
	}
	return id, b[i+2:]
}

func main() {
	src := flag.String("src", "", "directory of the messages sent")
	got := flag.String("got", "", "directory of the messages received (smtp-sink dumps or Maildir new/)")
	flag.Parse()
	if *src == "" || *got == "" {
		log.Fatal("usage: sinkcheck -src MSGDIR -got DIR")
	}
	want := map[string][]byte{}
	files, _ := filepath.Glob(filepath.Join(*src, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		id, body := split(b)
		want[id] = body
	}
	seen := map[string]int{}
	received, mismatch := 0, 0
	files, _ = filepath.Glob(filepath.Join(*got, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Fatal(err)
		}
		received++
		id, body := split(b)
		seen[id]++
		// smtp-sink ends each dump with one more newline.
		if w, ok := want[id]; !ok || !(bytes.Equal(body, w) || bytes.Equal(body, append(w[:len(w):len(w)], '\n'))) {
			mismatch++
		}
	}
	dups, missing := 0, 0
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
		if seen[id] > 1 {
			dups += seen[id] - 1
		}
	}
	fmt.Printf("RESULT sent=%d received=%d distinct=%d duplicates=%d missing=%d body_mismatch=%d\n",
		len(want), received, len(seen), dups, missing, mismatch)
	if dups != 0 || missing != 0 || mismatch != 0 || received != len(want) {
		os.Exit(1)
	}
}
