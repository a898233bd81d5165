// Command genmail writes reproducible test messages for the POP3 benchmark:
// RFC 5322 messages with CRLF line endings, sizes spread log-uniformly
// between -min and -max octets, some body lines starting with "." (and a
// few lines that are exactly ".") so dot-stuffing is exercised.
//
// The same seed gives the same bytes, so Pochta and Dovecot get identical
// messages.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var words = strings.Fields(`the of and to in is that for it as was with be by on not
he this are or his from at which but have an they you were her she there one all we
their been has when who will more no if out so said what up its about into than them
can only other new some could time these two may then do first any my now such like
our over man me even most made after also did many before must through back years
where much your way well down should because each just those people how too little
state good very make world still own see men work long get here between both life
being under never day same another know while last might us great old year off come
since against go came right used take three mailbox server message report invoice`)

func main() {
	dir := flag.String("dir", "", "output directory (created)")
	n := flag.Int("n", 100, "number of messages")
	minSize := flag.Int("min", 2000, "smallest message, octets")
	maxSize := flag.Int("max", 100000, "largest message, octets")
	seed := flag.Uint64("seed", 1, "random seed")
	text := flag.String("text", "", "draw body lines from this text file instead of the built-in words")
	flag.Parse()
	if *dir == "" || *minSize < 500 || *maxSize < *minSize {
		log.Fatal("usage: genmail -dir DIR [-n N] [-min octets] [-max octets] [-seed S]")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	if *text != "" {
		data, err := os.ReadFile(*text)
		if err != nil {
			log.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ".") && len(l) < 200 {
				textLines = append(textLines, l)
			}
		}
		if len(textLines) == 0 {
			log.Fatal("-text: no lines")
		}
	}
	rng := rand.New(rand.NewPCG(*seed, 0x706f6368))
	lo, hi := math.Log(float64(*minSize)), math.Log(float64(*maxSize))
	for i := 1; i <= *n; i++ {
		size := int(math.Exp(lo + rng.Float64()*(hi-lo)))
		name := filepath.Join(*dir, fmt.Sprintf("%06d.eml", i))
		if err := write(name, i, size, rng); err != nil {
			log.Fatal(err)
		}
	}
}

// write creates one message of about size octets (it ends at the first
// line boundary past size).
func write(name string, i, size int, rng *rand.Rand) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	fmt.Fprintf(w, "Return-Path: <sender%d@example.test>\r\n", i%97)
	fmt.Fprintf(w, "From: Sender %d <sender%d@example.test>\r\n", i%97, i%97)
	fmt.Fprintf(w, "To: bench@bench.test\r\n")
	fmt.Fprintf(w, "Subject: benchmark message %d\r\n", i)
	fmt.Fprintf(w, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(w, "Message-ID: <%d.%d@example.test>\r\n", i, size)
	fmt.Fprintf(w, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	written := 300
	for written < size {
		var line string
		switch r := rng.IntN(100); {
		case r < 4:
			line = "." + sentence(rng) // stuffed on the wire
		case r < 5:
			line = "." // a lone dot: must not end the response
		case r < 7:
			line = ""
		default:
			line = sentence(rng)
		}
		w.WriteString(line)
		w.WriteString("\r\n")
		written += len(line) + 2
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// textLines are the lines of -text, when given.
var textLines []string

// sentence returns 40-76 characters of words, or a line of -text.
func sentence(rng *rand.Rand) string {
	if len(textLines) > 0 {
		return textLines[rng.IntN(len(textLines))]
	}
	limit := 40 + rng.IntN(37)
	var b strings.Builder
	for b.Len() < limit {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rng.IntN(len(words))])
	}
	return b.String()[:limit]
}
