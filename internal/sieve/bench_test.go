package sieve

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// fiftyRules is a script of the size the delivery benchmark names.
func fiftyRules() string {
	var b strings.Builder
	b.WriteString(`require ["fileinto", "imap4flags", "envelope", "relational", "comparator-i;ascii-numeric"];` + "\n")
	for i := range 50 {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "if header :contains \"list-id\" \"list%d.example\" { fileinto \"Lists/%d\"; stop; }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "if address :domain :is \"from\" \"sender%d.example\" { addflag \"$F%d\"; }\n", i, i)
		case 2:
			fmt.Fprintf(&b, "if header :matches \"subject\" \"*[topic%d]*\" { fileinto \"T%d\"; }\n", i, i)
		case 3:
			fmt.Fprintf(&b, "if envelope :localpart :is \"to\" \"alias%d\" { fileinto \"A%d\"; }\n", i, i)
		case 4:
			fmt.Fprintf(&b, "if header :value \"ge\" :comparator \"i;ascii-numeric\" \"x-spam-score\" \"%d\" { addflag \"Junk\"; }\n", 100+i)
		}
	}
	return b.String()
}

func benchMsg() *Input {
	return &Input{From: "someone@sender.example", To: "me@example.com", Msg: newMsg(4096,
		"From: Someone <someone@sender.example>", "To: me@example.com", "Subject: a perfectly ordinary subject line",
		"List-Id: <other.example>", "X-Spam-Score: 3")}
}

func BenchmarkRunFiftyRules(b *testing.B) {
	p, err := Compile(fiftyRules(), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	in := benchMsg()
	for b.Loop() {
		if _, err := p.Run(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileFiftyRules(b *testing.B) {
	src := fiftyRules()
	for b.Loop() {
		if _, err := Compile(src, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// A Program is shared by concurrent deliveries; run it under -race.
func TestConcurrentRuns(t *testing.T) {
	p, err := Compile(strings.Replace(fiftyRules(), `"fileinto",`, `"fileinto", "vacation",`, 1)+`vacation :handle "h" "away";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				as, err := p.Run(benchMsg())
				if err != nil || len(as) != 2 || as[0].Kind != ActionVacation {
					t.Errorf("got %v, %v", as, err)
					return
				}
				as[0].Vacation.Reason = "changed by a caller"
			}
		})
	}
	wg.Wait()
}
