package e2e_test

import (
	"encoding/json"
	"net"
	"testing"
)

// qresyncScript is a client that caches a mailbox, goes away while
// another connection changes flags and expunges, and comes back with
// SELECT (QRESYNC ...) (RFC 7162): its cache, updated from the VANISHED
// (EARLIER) and FETCH responses alone, must equal a full fetch.
const qresyncScript = `
import imaplib, json, re, sys
host, port, user, password = sys.argv[1:5]
out = {}

def connect():
    m = imaplib.IMAP4(host, int(port))
    m.login(user, password)
    m.enable("QRESYNC")
    d = m.untagged_responses.pop("ENABLED", [])
    out.setdefault("enabled", []).append(" ".join(x.decode() for x in d if x))
    return m

def flags_by_uid(lines):
    cache = {}
    for l in lines:
        if isinstance(l, tuple):
            l = l[0]
        l = l.decode()
        uid = re.search(r"UID (\d+)", l)
        fl = re.search(r"FLAGS \(([^)]*)\)", l)
        if uid and fl:
            cache[int(uid.group(1))] = sorted(f for f in fl.group(1).split() if f != "\\Recent")
    return cache

# 1. Synchronise and remember UIDVALIDITY, HIGHESTMODSEQ and the flags.
m = connect()
m.select("INBOX")
validity = m.untagged_responses["UIDVALIDITY"][0].decode()
highest = m.untagged_responses["HIGHESTMODSEQ"][0].decode()
typ, d = m.uid("FETCH", "1:*", "(FLAGS)")
cache = flags_by_uid(d)
m.logout()

# 2. Another client changes things meanwhile.
o = connect()
o.select("INBOX")
o.store("1", "+FLAGS", "(\\Seen $Important)")
o.store("2:3", "+FLAGS", "(\\Deleted)")
typ, d = o.expunge()
out["other_expunge"] = [x.decode() for x in d if x]
o.logout()

# 3. Come back: one SELECT tells what changed.
m = connect()
typ, d = m._simple_command("SELECT", "INBOX", "(QRESYNC (%s %s 1:%d))" % (validity, highest, max(cache)))
out["select"] = typ
m.state = "SELECTED"  # imaplib only tracks its own select()
vanished = [x.decode() for x in m.untagged_responses.pop("VANISHED", [])]
out["vanished"] = vanished
for v in vanished:
    for part in v.replace("(EARLIER) ", "").split(","):
        lo, _, hi = part.partition(":")
        for uid in range(int(lo), int(hi or lo) + 1):
            cache.pop(uid, None)
fetched = m.untagged_responses.pop("FETCH", [])
out["fetched"] = len(fetched)
cache.update(flags_by_uid(fetched))
typ, d = m.uid("FETCH", "1:*", "(FLAGS)")
out["cache"] = {str(k): v for k, v in sorted(cache.items())}
out["full"] = {str(k): v for k, v in sorted(flags_by_uid(d).items())}
m.logout()
print(json.dumps(out))
`

// TestIMAPImaplibQresync runs qresyncScript against pochta serve.
func TestIMAPImaplibQresync(t *testing.T) {
	in := newInstance(t, "example.test")
	in.addUser("alice@example.test", "correct horse battery")
	in.serve([]string{"imap"})
	for _, m := range testMessages {
		in.deliver("alice@example.test", m)
	}
	in.deliver("alice@example.test", testMessages[0])
	host, port, _ := net.SplitHostPort(in.addrs["imap"])
	out := python(t, qresyncScript, host, port, "alice@example.test", "correct horse battery")
	var r struct {
		Enabled      []string
		OtherExpunge []string `json:"other_expunge"`
		Select       string
		Vanished     []string
		Fetched      int
		Cache, Full  map[string][]string
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("imaplib output: %v\n%s", err, out)
	}
	if len(r.Enabled) != 3 || r.Enabled[0] != "QRESYNC" {
		t.Errorf("ENABLE QRESYNC: %q", r.Enabled)
	}
	// Under QRESYNC the other client's EXPUNGE is VANISHED, which
	// imaplib does not collect as EXPUNGE.
	if len(r.OtherExpunge) != 0 {
		t.Errorf("EXPUNGE responses under QRESYNC: %q", r.OtherExpunge)
	}
	if r.Select != "OK" || len(r.Vanished) != 1 || r.Vanished[0] != "(EARLIER) 2:3" || r.Fetched != 1 {
		t.Errorf("SELECT QRESYNC: %s, VANISHED %q, %d FETCH", r.Select, r.Vanished, r.Fetched)
	}
	if len(r.Full) == 0 || !sameFlags(r.Cache, r.Full) {
		t.Errorf("resynchronised cache %v, full fetch %v", r.Cache, r.Full)
	}
}

func sameFlags(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}
