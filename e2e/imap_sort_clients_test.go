package e2e_test

import (
	"encoding/json"
	"net"
	"testing"
)

// Python's imaplib SORT and THREAD (RFC 5256) against `pochta serve`,
// with answers worked out by hand from the three messages.
const imaplibSortScript = `
import imaplib, json, sys
host, port, user, password = sys.argv[1:5]
m = imaplib.IMAP4(host, int(port))
m.login(user, password)
m.select("INBOX")
out = {}
for name, crit in [("date", "(DATE)"), ("revdate", "(REVERSE DATE)"), ("subject", "(SUBJECT)"), ("from", "(FROM)")]:
    typ, d = m.sort(crit, "UTF-8", "ALL")
    out[name] = [typ, d[0].decode()]
for algo in ["REFERENCES", "ORDEREDSUBJECT"]:
    typ, d = m.thread(algo, "UTF-8", "ALL")
    out[algo] = [typ, d[0].decode()]
typ, d = m.uid("SORT", "(DATE)", "UTF-8", "ALL")
out["uiddate"] = [typ, d[0].decode()]
m.logout()
print(json.dumps(out))
`

func TestIMAPImaplibSortThread(t *testing.T) {
	const user, pass = "sorter@example.test", "sort-me-123"
	in := newInstance(t, "example.test")
	in.addUser(user, pass)
	// 1: alpha (the oldest), 2: a reply to 1 (the newest), 3: beta.
	in.deliver(user, "From: Carol <carol@example.org>\nTo: sorter@example.test\nSubject: alpha\n"+
		"Date: Mon, 6 May 2024 08:00:00 +0000\nMessage-ID: <a@example.org>\n\nfirst\n")
	in.deliver(user, "From: Alice <alice@example.org>\nTo: sorter@example.test\nSubject: Re: alpha\n"+
		"Date: Wed, 8 May 2024 08:00:00 +0000\nMessage-ID: <b@example.org>\nIn-Reply-To: <a@example.org>\nReferences: <a@example.org>\n\nreply\n")
	in.deliver(user, "From: Bob <bob@example.org>\nTo: sorter@example.test\nSubject: beta\n"+
		"Date: Tue, 7 May 2024 08:00:00 +0000\nMessage-ID: <c@example.org>\n\nother\n")
	in.serve([]string{"imap"})
	host, port, _ := net.SplitHostPort(in.addrs["imap"])
	out := python(t, imaplibSortScript, host, port, user, pass)
	var got map[string][2]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("imaplib output: %v\n%s", err, out)
	}
	for key, want := range map[string]string{
		"date":           "1 3 2",
		"revdate":        "2 3 1",
		"subject":        "1 2 3", // base subject alpha for 1 and 2 (RFC 5256 §2.1), ties by arrival
		"from":           "2 3 1", // alice, bob, carol (the mailbox, RFC 5256 §3)
		"uiddate":        "1 3 2",
		"REFERENCES":     "(1 2)(3)",
		"ORDEREDSUBJECT": "(1 2)(3)",
	} {
		if got[key][0] != "OK" || got[key][1] != want {
			t.Errorf("imaplib %s: %q, want OK %q", key, got[key], want)
		}
	}
}
