package sieve

// A differential test against Pigeonhole, Dovecot's Sieve implementation:
// Debian's dovecot-sieve ships sieve-test, which prints the actions it would
// take for a script and a message. Every script × message of the table must
// give the same set of actions in both. Vacation is left out: Pigeonhole
// decides there whether a reply is due (RFC 5230 rules), which is the
// sending layer's job here, not the interpreter's. ereject is left out:
// Debian 12's Pigeonhole does not implement it.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

var diffScripts = []string{
	rfc5228Example,
	`require "reject"; if header :contains "subject" "money" { reject "No money, thanks."; }`,
	// ereject (RFC 5429) is not compared: Debian 12's Pigeonhole does not
	// know it ("unknown Sieve capability"); TestReject covers ours.
	`if header :matches "subject" "*money*" { discard; }`,
	`if size :over 100 { discard; } else { keep; }`,
	`require ["fileinto", "copy"]; if address :domain :is "from" "example.com" { fileinto :copy "Company"; }`,
	`require "envelope"; if envelope :localpart :is "from" "alice" { redirect "archive@example.net"; }`,
	`require ["fileinto", "imap4flags"]; if exists "x-spam" { addflag "\\Seen"; addflag "Junk"; fileinto "Spam"; } else { setflag "\\Flagged"; }`,
	`require ["fileinto", "subaddress", "envelope"]; if envelope :detail "to" "lists" { fileinto "Lists"; } elsif envelope :user "to" "me" { keep; }`,
	`require ["relational", "comparator-i;ascii-numeric"]; if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { discard; }`,
	`require ["relational", "comparator-i;ascii-numeric", "fileinto"]; if address :count "gt" :comparator "i;ascii-numeric" ["to", "cc"] "2" { fileinto "Many"; }`,
	`require ["encoded-character", "fileinto"]; if header :contains "subject" "${hex:4d 6f}ney" { fileinto "${unicode:4D}"; }`,
	`if not anyof (header :contains "from" "bob", address :localpart :is "to" "me") { discard; stop; } redirect "x@y.example";`,
	`if header :comparator "i;octet" :is "subject" "make money fast" { discard; }`,
	`require ["fileinto", "imap4flags"]; addflag ["a", "b"]; removeflag "a"; if hasflag :is "b" { fileinto :flags "c" "Flagged"; }`,
	`if header :contains "x-absent" "" { discard; }`,
	`if header :contains "subject" "" { discard; }`,
	// Not "?ake*": Pigeonhole 0.5.19 matches "hello" against "?ake*" and
	// "?a*", against RFC 5228 2.7.1 ("?" is exactly one character); see
	// TestWildcard for our answer.
	`if header :matches "subject" "m?ke*" { discard; }`,
	`if address :all :is "to" "B@X.example" { discard; }`,
	`redirect "a@b.example"; redirect "a@b.example"; keep; keep;`,
	`discard; keep;`,
	`require ["fileinto", "imap4flags"]; addflag "x"; keep; removeflag "x"; fileinto "Other";`,
	`if exists ["from", "x-absent"] { discard; } elsif exists ["from", "to"] { redirect "e@x.example"; }`,
	`if size :under 1K { discard; }`,
	`if address :localpart :matches "sender" "owner-*" { discard; }`,
	`if header :is "subject" ["hello", "make money fast"] { discard; }`,
	`require "envelope"; if envelope :all :is "to" "me+lists@example.org" { discard; }`,
	`require ["envelope", "subaddress"]; if envelope :detail :matches "to" "*" { discard; }`,
	// variables (RFC 5229) and regex
	rfc5229Matches,
	`require ["variables", "fileinto"]; if header :matches "subject" "*e*" { set :upperfirst "f" "${2}"; fileinto "${1}.${f}"; }`,
	`require ["variables", "fileinto"]; if address :matches "from" "*@*" { set :lower "d" "${2}"; fileinto "dom.${d}"; }`,
	`require ["variables", "fileinto"]; set "a" "juMBlEd"; set :length "n" "${a}"; set :quotewildcard "q" "a*b?"; fileinto "${n}.${q}";`,
	`require ["variables", "envelope"]; if envelope :matches "from" "*@*" { redirect "archive+${1}@example.net"; }`,
	`require ["variables", "imap4flags", "fileinto"]; setflag "f" "\\Seen"; addflag "f" "Junk"; if hasflag "f" "junk" { fileinto :flags "${f}" "J"; }`,
	`require "variables"; set "s" "x"; if string :is "${s}${none}" "x" { discard; }`,
	`require ["regex", "variables", "fileinto"]; if header :regex "subject" "^(.*) (mo[a-z]+) (.*)$" { fileinto "${2}-${3}"; }`,
	`require ["regex", "fileinto"]; if address :regex :comparator "i;octet" "to" "^[a-c]@x\\.example$" { fileinto "abc"; }`,
	// body (RFC 5173)
	`require ["body", "fileinto"]; if body :text :contains ["missile", "coordinates"] { fileinto "secrets"; } if body :content "audio/mp3" :contains "" { fileinto "jukebox"; }`,
	`require "body"; if body :raw :contains "=E9es" { discard; }`,
	`require "body"; if body :content "text/html" :contains "<b>coordinates" { redirect "html@x.example"; }`,
	`require "body"; if body :contains "long body" { discard; }`,
	`require "body"; if body :text :contains "coordonnées" { redirect "fr@x.example"; }`,
	// date and index (RFC 5260)
	`require ["date", "relational", "fileinto"]; if allof(date :value "ge" :originalzone "date" "hour" "09", date :value "lt" :originalzone "date" "hour" "17") { fileinto "urgent"; }`,
	`require ["date", "fileinto"]; if anyof(date :is "received" "weekday" "0", date :is "received" "weekday" "6") { fileinto "weekend"; }`,
	`require ["date", "variables", "fileinto"]; if date :zone "+0100" :matches "date" "iso8601" "*" { fileinto "${0}"; }`,
	`require ["date", "variables", "fileinto"]; if date :zone "-0330" :matches "date" "std11" "*" { fileinto "${0}"; }`,
	`require ["date", "variables", "fileinto"]; if date :originalzone :matches "date" "julian" "*" { set "j" "${0}"; } if date :originalzone :matches "date" "zone" "*" { fileinto "${j}.${0}"; }`,
	`require ["date", "variables", "fileinto"]; if date :zone "+0000" :matches "received" "time" "*" { fileinto "${0}"; }`,
	`require ["date", "index", "variables", "fileinto"]; if date :zone "+0000" :index 1 :last :matches "received" "date" "*" { fileinto "first.${0}"; }`,
	`require ["index", "fileinto"]; if header :index 2 :contains "received" "from c" { fileinto "second"; } if header :index 5 :contains "received" "" { fileinto "none"; }`,
	`require ["date", "relational"]; if currentdate :value "gt" "year" "2000" { discard; }`,
	// editheader (RFC 5293): later tests see the edits. Not compared:
	// addheader of Received or Auto-Submitted, which Pigeonhole allows
	// and we ignore (section 9 lets a server protect fields).
	`require "editheader"; if not header :contains "X-Sieve-Filtered" "<kim@job.example.com>" { addheader "X-Sieve-Filtered" "<kim@job.example.com>"; redirect "kim@home.example.com"; } if exists "x-sieve-filtered" { discard; }`,
	`require "editheader"; deleteheader "subject"; if not exists "subject" { discard; }`,
	`require ["editheader", "fileinto"]; deleteheader :index 1 :last "received"; deleteheader :matches "to" "*@x.example"; if exists ["received", "to"] { fileinto "both"; }`,
	`require ["editheader", "index", "fileinto"]; addheader :last "X-A" "1"; addheader "X-A" "2"; if header :index 1 :is "x-a" "2" { fileinto "first"; } if header :index 1 :last :is "x-a" "1" { fileinto "last"; }`,
	`require ["editheader", "variables", "fileinto"]; if header :matches "subject" "*" { deleteheader "subject"; addheader "Subject" "[x] ${1}"; } if header :matches "subject" "*" { fileinto "${1}"; }`,
	// duplicate (RFC 7352): nothing on record yet, in either.
	`require ["duplicate", "fileinto"]; if duplicate { discard; } if duplicate :header "subject" :handle "h" :seconds 60 :last { fileinto "dup"; }`,
	`require ["editheader", "relational", "comparator-i;ascii-numeric"]; deleteheader :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "5"; if exists "x-spam-score" { discard; }`,
}

var diffMessages = []struct{ from, to, msg string }{
	{"alice@example.com", "me+lists@example.org", "From: Alice <alice@example.com>\r\nDate: Fri, 29 Jun 2007 10:00:00 -0800\r\nTo: me@example.com\r\nSubject: Make Money Fast\r\n\r\nhi\r\n"},
	{"bob@other.example", "me@example.org", "From: bob@other.example\r\nMessage-ID: <m1@other.example>\r\nTo: a@x.example, b@x.example\r\nCc: c@x.example\r\nSubject: make money fast\r\nX-Spam: yes\r\nX-Spam-Score: 7\r\n\r\n" + strings.Repeat("long body line\r\n", 20)},
	{"dave@x.example", "me@example.org", mimeMsg},
	{"carol@x.example", "other@example.org", "Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000\r\nReceived: from c by d; Sun, 01 Jul 2007 09:00:00 +0200\r\nDate: 1 Jul 2007 18:00 +1000\r\nSender: owner-ietf-mta-filters@imc.org\r\nFrom: carol@x.example\r\nTo: list@lists.example\r\nSubject: hello\r\nX-Spam-Score: 04\r\n\r\nbody\r\n"},
}

// pigeonholeActions runs sieve-test and returns its actions, normalized.
// Each script gets its own file name: sieve-test keeps a compiled binary
// next to the script and reuses it while it looks no older than the source.
func pigeonholeActions(t *testing.T, bin, dir string, n int, script, from, to, msg string) []string {
	t.Helper()
	sp, mp := filepath.Join(dir, fmt.Sprintf("s%d.sieve", n)), filepath.Join(dir, "m.eml")
	for p, s := range map[string]string{sp: script, mp: msg} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "-c", filepath.Join(dir, "dovecot.conf"), "-f", from, "-a", to, sp, mp).CombinedOutput()
	if err != nil {
		t.Fatalf("sieve-test: %v\n%s", err, out)
	}
	var acts []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "* store message in folder: "):
			acts = append(acts, "store "+strings.TrimPrefix(line, "* store message in folder: "))
		case strings.HasPrefix(line, "+ add IMAP flags: "):
			acts[len(acts)-1] += " flags=" + strings.ToLower(strings.TrimPrefix(line, "+ add IMAP flags: "))
		case strings.HasPrefix(line, "* redirect message to: "):
			acts = append(acts, "redirect "+strings.Trim(strings.TrimPrefix(line, "* redirect message to: "), "<>"))
		case strings.HasPrefix(line, "* reject message with reason: "):
			acts = append(acts, "reject "+strings.TrimPrefix(line, "* reject message with reason: "))
		case line == "* discard":
			acts = append(acts, "discard")
		case strings.HasPrefix(line, "* track last duplicate"):
			acts = append(acts, "track last")
		case strings.HasPrefix(line, "* track duplicate"):
			acts = append(acts, "track")
		case strings.HasPrefix(line, "* "):
			t.Fatalf("unknown sieve-test action %q", line)
		}
	}
	// Pigeonhole lists an executed discard even when a keep overrides it;
	// our Discard means the message is stored nowhere (RFC 5228 4.5).
	if len(slices.DeleteFunc(slices.Clone(acts), func(a string) bool { return strings.HasPrefix(a, "track") })) > 1 {
		acts = slices.DeleteFunc(acts, func(a string) bool { return a == "discard" })
	}
	slices.Sort(acts)
	return acts
}

func ourActions(as []Action) []string {
	var acts []string
	for _, a := range as {
		s := ""
		switch a.Kind {
		case ActionKeep:
			s = "store INBOX"
		case ActionFileinto:
			s = "store " + a.Mailbox
		case ActionRedirect:
			s = "redirect " + a.Address
		case ActionDiscard:
			s = "discard"
		case ActionReject:
			s = "reject " + a.Reason
		case ActionDuplicate:
			s = "track"
			if a.Duplicate.Last {
				s += " last"
			}
		default:
			s = a.String()
		}
		if len(a.Flags) > 0 {
			s += " flags=" + strings.ToLower(strings.Join(a.Flags, " "))
		}
		acts = append(acts, s)
	}
	slices.Sort(acts)
	return acts
}

// headerMsg is a Message parsed from raw test text, enough for these
// ASCII, unfolded headers.
func headerMsg(raw string) *testMsg {
	head, _, _ := strings.Cut(raw, "\r\n\r\n")
	m := newMsg(int64(len(raw)), strings.Split(head, "\r\n")...)
	m.raw = raw
	return m
}

// sieveTest finds sieve-test and prepares a directory and config for it.
func sieveTest(t *testing.T) (bin, dir string) {
	prototest.NeedProgram(t, "sieve-test", "dovecot-sieve")
	bin, err := exec.LookPath("sieve-test")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	// sieve-test drops privileges to mail_uid and refuses root; it writes
	// compiled scripts next to the script, so the directory is writable.
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534
		// t.TempDir's parent is 0700; nobody needs to reach dir through it.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// editheader is off in Pigeonhole's defaults.
	conf := fmt.Sprintf("mail_uid = %d\nmail_gid = %d\nfirst_valid_uid = %d\nfirst_valid_gid = %d\nmail_location = maildir:%s/mail\n"+
		"plugin {\n  sieve_extensions = +editheader\n}\n",
		uid, gid, min(uid, 100), min(gid, 100), dir)
	if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

func TestPigeonholeDifferential(t *testing.T) {
	bin, dir := sieveTest(t)
	seen := map[string]bool{}
	for i, script := range diffScripts {
		p, err := Compile(script, Limits{})
		if err != nil {
			t.Fatalf("script %d: %v", i, err)
		}
		for j, m := range diffMessages {
			as, err := p.Run(&Input{From: m.from, To: m.to, Msg: headerMsg(m.msg)})
			if err != nil {
				t.Fatalf("script %d message %d: %v", i, j, err)
			}
			ours, theirs := ourActions(as), pigeonholeActions(t, bin, dir, i, script, m.from, m.to, m.msg)
			for _, a := range theirs {
				seen[a] = true
			}
			if !slices.Equal(ours, theirs) {
				t.Errorf("script %d message %d: ours %q, pigeonhole %q\n%s", i, j, ours, theirs, script)
			}
		}
	}
	// The table must exercise more than the implicit keep.
	if len(seen) < 10 {
		t.Errorf("only %d distinct actions seen: %v", len(seen), seen)
	}
}

// Scripts both implementations must refuse to compile.
func TestPigeonholeRejects(t *testing.T) {
	bin, dir := sieveTest(t)
	bad := []string{
		`keep`,
		`fileinto "x";`,
		`require "nonexistent";`,
		`keep; require "fileinto";`,
		`elsif true { keep; }`,
		`if true { keep; } else { keep; } else { keep; }`,
		`if header :is :contains "a" "b" { keep; }`,
		`if header :comparator "i;nope" "a" "b" { keep; }`,
		`if size 10 { keep; }`,
		`if size :over "x" { keep; }`,
		`redirect "not an address";`,
		`if true keep;`,
		`stop { }`,
		`if anyof () { }`,
		`if not (true, false) { }`,
		`if address :is "subject" "x" { }`,
		`require "envelope"; if envelope :is "from" { }`,
		`if header :value "eq" "a" "b" { }`,
		`require "comparator-i;ascii-numeric"; if header :contains :comparator "i;ascii-numeric" "a" "b" { }`,
		`require "fileinto"; fileinto :copy "x";`,
		`keep :flags "x";`,
		`/* unterminated`,
		`keep; "unterminated`,
		"require \"fileinto\"; fileinto text:\nabc\n",
		`if header "a" :is "b" { }`,
		`require "encoded-character"; redirect "${unicode:D800}@x.example";`,
	}
	for i, script := range bad {
		if _, err := Compile(script, Limits{}); err == nil {
			t.Errorf("we compiled %q", script)
		}
		sp := filepath.Join(dir, fmt.Sprintf("bad%d.sieve", i))
		if err := os.WriteFile(sp, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "-c", filepath.Join(dir, "dovecot.conf"), sp, "/dev/null").CombinedOutput()
		if err == nil || !strings.Contains(string(out), "failed to compile") {
			t.Errorf("pigeonhole accepted %q: %v\n%s", script, err, out)
		}
	}
}
