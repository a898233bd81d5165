package sieve

import (
	"strings"
	"testing"
	"time"
)

var fuzzSeeds = []string{
	rfc5228Example,
	"require [\"fileinto\",\"copy\",\"mailbox\",\"imap4flags\",\"vacation\",\"envelope\",\"subaddress\"];\n" +
		"if address :detail :is \"to\" \"x\" { keep; }\n" +
		"if allof (envelope :localpart :matches \"from\" \"*a?\", not size :under 1K) { fileinto :copy :create :flags \"\\\\Seen\" \"x\"; }\n" +
		"elsif anyof (exists \"x\", header :comparator \"i;octet\" :contains \"s\" \"k\", hasflag \"f\") { setflag \"a\"; stop; }\n" +
		"else { vacation :days 3 :subject \"s\" text:\r\nhi\r\n..\r\n.\r\n; redirect \"a@b.example\"; discard; }",
	"/* c */ keep; # x",
	"require [\"relational\", \"comparator-i;ascii-numeric\"]; if anyof (header :value \"ge\" :comparator \"i;ascii-numeric\" \"x\" \"5\", address :count \"lt\" \"to\" \"2\") { discard; }",
	"require [\"encoded-character\", \"fileinto\"]; if header :is \"s\" \"${hex:41 42}${unicode: 1F600 }\" { fileinto \"${hex:}\"; }",
	"if header :matches \"subject\" \"*\\\\**\" { discard; }",
	rfc5229Matches,
	"require [\"duplicate\", \"variables\"]; if duplicate :handle \"${a}\" :uniqueid \"x\" :seconds 5 :last { discard; } elsif duplicate :header \"subject\" { keep; }",
	"require [\"editheader\", \"index\", \"variables\"]; addheader :last \"X-${a}\" \"v\"; deleteheader :index 1 :last :matches \"x-a\" \"*\"; deleteheader \"subject\"; if exists \"x-a\" { keep; }",
	"require [\"date\", \"index\", \"relational\"]; if anyof (date :zone \"+0130\" :index 1 :last :value \"ge\" \"date\" \"julian\" \"5\", currentdate :matches \"std11\" \"*\", header :index 2 \"received\" \"x\") { discard; }",
	"require [\"body\", \"variables\"]; if body :content [\"text\", \"\", \"audio/mp3\"] :matches \"*a?\" { set \"x\" \"${1}\"; } if body :raw :contains \"x\" { discard; }",
	"require [\"variables\", \"regex\", \"imap4flags\"]; set :upper :quoteregex \"a\" \"${b}x\"; if header :regex \"subject\" \"(.*)${a}\" { setflag \"v\" \"${1}\"; } if string :count \"eq\" \"${v}\" \"1\" { discard; }",
}

// fuzzMsg derives a message from fuzz input so the interpreter sees
// arbitrary header values.
func fuzzMsg(data string) *Input {
	var lines []string
	for _, l := range strings.Split(data, "\n") {
		if strings.Contains(l, ":") {
			lines = append(lines, l)
		}
	}
	m := newMsg(int64(len(data)), lines...)
	m.raw = data
	return &Input{From: "a@b.example", To: "c@d.example", Msg: m,
		MailboxExists: func(string) bool { return true }}
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		start := time.Now()
		p, err := Compile(src, Limits{})
		if err == nil {
			if _, err := p.Run(fuzzMsg(src)); err != nil && !strings.Contains(err.Error(), "sieve: runtime error") {
				t.Fatalf("run error not wrapped: %v", err)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	})
}

func FuzzRun(f *testing.F) {
	f.Add("Subject: make money fast\nFrom: Tim <tim@example.com>\nTo: me@example.com", "*money*")
	f.Add("From: =?utf-8?q?x?= <@>\nTo: undisclosed-recipients:;", "a?\\*")
	f.Fuzz(func(t *testing.T, headers, key string) {
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key)
		script := `require ["envelope", "imap4flags"];
if anyof (header :matches ["subject", "from"] "` + q + `",
          address :domain :contains ["to", "from"] "` + q + `",
          envelope :localpart :is "from" "` + q + `") { addflag "` + q + `"; discard; }
if hasflag :matches "` + q + `" { keep; }`
		p, err := Compile(script, Limits{})
		if err != nil {
			if len(script) <= DefaultLimits.MaxScriptSize && len(key) <= DefaultLimits.MaxString {
				t.Fatalf("escaped key did not compile: %v", err)
			}
			return
		}
		as, _ := p.Run(fuzzMsg(headers))
		if len(as) == 0 {
			t.Fatal("no actions")
		}
	})
}
