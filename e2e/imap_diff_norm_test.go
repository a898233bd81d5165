package e2e_test

import (
	"fmt"
	"mime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/imap/imaptest"
)

// The differential test's normaliser: it turns each server's responses
// into canonical lines, removing only what legitimately differs between
// two correct servers. Every such difference is listed here with the RFC
// section that allows it; anything else that differs is a finding.
var deliberateDifferences = []struct{ what, why string }{
	{"human-readable text of every status response, the greeting and continuation requests",
		"RFC 9051 §7.1 and §7.5: resp-text is text for humans; only the status and the response code carry meaning"},
	{"untagged OK/NO without a response code (informational, e.g. Dovecot's \"* OK Still here\")",
		"RFC 9051 §7.1.1: an untagged OK without a code is an informational message"},
	{"the CAPABILITY response code in the greeting and in OK responses",
		"RFC 9051 §7.1: the CAPABILITY code is optional; the untagged CAPABILITY response is compared"},
	{"capabilities outside the set both servers are expected to offer (Dovecot: SORT, THREAD, CONDSTORE, QRESYNC, ...; Pochta: IMAP4rev2, UTF8=ACCEPT, QUOTA, ...), and their order",
		"RFC 9051 §7.2.2: a server advertises what it implements; the list is unordered"},
	{"AUTH= mechanisms and STARTTLS/LOGINDISABLED",
		"RFC 9051 §6.2.2/§6.2.3: depend on each server's TLS and SASL configuration, not on the protocol engine"},
	{"UIDVALIDITY values (in SELECT, STATUS, APPENDUID, COPYUID): replaced by V (the stress test checks their stability)",
		"RFC 9051 §2.3.1.1: the server chooses UIDVALIDITY, equal or not across mailboxes; only its stability matters"},
	{"capabilities before authentication (Dovecot shows fewer; Pochta shows LITERAL- there, LITERAL+ after): only the status of a pre-login CAPABILITY is compared",
		"RFC 9051 §7.2.2 (the list may change after login) and RFC 7888 §4 (LITERAL- where literals are bounded)"},
	{"untagged CAPABILITY versus the CAPABILITY code after LOGIN/AUTHENTICATE: only the status of a login is compared",
		"RFC 9051 §6.2.3: the server may send either, or neither"},
	{"an empty untagged ENABLED (sent by Pochta, omitted by Dovecot) for ENABLE of unknown extensions",
		"RFC 5161 §3.2: ENABLED lists what was enabled; an empty list says nothing"},
	{`INTERNALDATE day as " 6" or "06"`,
		"RFC 9051 §9: date-day-fixed = (SP DIGIT) / 2DIGIT"},
	{"quoted string versus literal, and atom versus string for mailbox names",
		"RFC 9051 §4.3 (string = quoted / literal) and §9 (mailbox = astring)"},
	{"order of the items inside a FETCH response, of the attributes in STATUS, of flags in FLAGS/PERMANENTFLAGS/LIST",
		"RFC 9051 §7.5.2, §7.3.4 and §2.3.2: these are sets or attribute lists with no defined order"},
	{"order of untagged responses other than EXISTS/EXPUNGE/FETCH within one command's response (LIST lines, SELECT's FLAGS/OK codes)",
		"RFC 9051 §6.3.1, §6.3.9: the order of these responses is not specified; message data keeps its order because sequence numbers depend on it"},
	{"order of numbers in SEARCH and the form of sequence sets (2:4 versus 2,3,4) in ESEARCH ALL and COPYUID",
		"RFC 9051 §7.3.4 (SEARCH lists numbers, no order), RFC 4731 §3.1 and RFC 4315 §3 (sequence sets denote sets)"},
	{"\\HasChildren/\\HasNoChildren in LIST/LSUB when the command did not ask for CHILDREN",
		"RFC 5258 §4 and RFC 3348 §4: without the CHILDREN return option the server MAY return them"},
	{"\\Subscribed in LIST/LSUB when the command did not say SUBSCRIBED",
		"RFC 5258 §3.1/§3.2: \\Subscribed must be accurate when SUBSCRIBED is given; elsewhere it is optional"},
	{"special-use attributes in an extended LIST that did not ask for SPECIAL-USE",
		"RFC 6154 §2 and §5.1: they must be returned for SPECIAL-USE and plain LIST; other extended forms may omit them"},
	{"\\Marked/\\UnMarked in LIST",
		"RFC 9051 §7.3.1: the server may say whether a mailbox is marked; Dovecot does, Pochta need not"},
	{"a NO with a response code where the other server sends none (a missing code matches any)",
		"RFC 5530 §3: response codes are recommended, not required; a different code on both sides is still a finding"},
	{"UID in a FETCH response to a command that never mentions UID (unsolicited flag updates)",
		"RFC 9051 §7.5.2: a server may include data items that were not asked for in unsolicited FETCH responses"},
	{"the order of return data in ESEARCH, and header names in BODY[HEADER.FIELDS (...)] quoted or not",
		"RFC 4731 §3.1 (no order among search-return-data) and RFC 9051 §9 (header-fld-name = astring)"},
	{"SASL-IR in the capabilities after login",
		"RFC 4959 §3: SASL-IR concerns AUTHENTICATE, which is over once logged in"},
	{"special-use attributes in LSUB",
		"RFC 6154 §2 defines them for LIST; LSUB (RFC 3501 §6.3.9) predates them"},
	{"the charset list after BADCHARSET",
		"RFC 9051 §7.1: the list of supported charsets is optional"},
	{"untagged RECENT outside SELECT/EXAMINE (Dovecot sends it after expunges but not in a session that sees another's APPEND; Pochta the other way round)",
		"RFC 3501 §7.3.2: RECENT follows a size change; \\Recent itself is compared through SELECT/EXAMINE, STATUS, FETCH FLAGS and SEARCH RECENT/NEW/OLD"},
	{"literal8 versus a string for BINARY data without NUL",
		"RFC 3516 §4.3: 8-bit data without NUL SHOULD come as a string (Pochta), literal8 is tolerated (Dovecot)"},
	{"the CLIENTBUG code on an OK (Dovecot's STATUS of the selected mailbox)",
		"RFC 5530 §3: CLIENTBUG on OK is advice, the command succeeded"},
	{"OK versus NO [EXPUNGEISSUED] for a FETCH that names a message another session expunged",
		"RFC 9051 §7.1 (EXPUNGEISSUED) and RFC 2180 §4.1: both are allowed until the EXPUNGE is sent"},
	{"RFC 2047 encoded words in ENVELOPE, compared decoded (Pochta decodes and re-encodes, Dovecot passes the header through)",
		"RFC 9051 §7.5.2 and RFC 2047 §6: the client decodes the words; both forms carry the same text"},
	{"NIL versus an empty string for a BODY[part] or BINARY[part] that does not exist",
		"RFC 9051 §7.5.2 (and RFC 3501 §7.4.2): the section's value is an nstring"},
	{"keywords in FLAGS and PERMANENTFLAGS, and FLAGS/PERMANENTFLAGS outside SELECT/EXAMINE: compared without keywords, and only in SELECT/EXAMINE",
		"RFC 9051 §7.3.5 and §7.1: a server may keep keywords no message carries (Dovecot) or list those in use (Pochta), and may announce a new keyword at the STORE or just before the first FETCH showing it; the rule that matters (no keyword in FETCH before FLAGS listed it) is checked by the stress test's model"},
	{"the ALERT response code",
		"RFC 9051 §7.1: ALERT only asks the client to show the text to the user; which failures deserve it is the server's choice"},
	{"ranges in ESORT's ALL (\"4:6\" or \"4,5,6\"), compared expanded in their order",
		"RFC 5267 §3.2: ALL lists the messages in sort order; a range stands for its numbers in that order"},
	{"the ID response's field values",
		"RFC 2971 §3.3: the server's name, version, ... are implementation data"},
	{"response codes on BAD",
		"RFC 5530 §3: codes are optional, and a BAD means a client bug whatever the code"},
	{"HIGHESTMODSEQ and NOMODSEQ response codes",
		"RFC 7162 §3.1.2: mod-sequence values are each server's own counters (Dovecot also sends HIGHESTMODSEQ before any CONDSTORE enabling command, which §3.1.2.1 allows)"},
	{"the MAILBOXID response code (SELECT, EXAMINE, CREATE)",
		"RFC 8474 §4: only an OBJECTID server sends it, and Dovecot 2.3 does not offer OBJECTID"},
}

// comparedCaps are the capabilities compared between the servers: the
// ones issue 8 requires of Pochta that Dovecot 2.3 also offers.
var comparedCaps = []string{
	"IMAP4REV1", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS", "UNSELECT",
	"CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "ESEARCH", "SEARCHRES", "MOVE",
	"BINARY", "STATUS=SIZE", "SORT", "SORT=DISPLAY", "ESORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT",
	"MULTIAPPEND", "CATENATE", "CONDSTORE", "QRESYNC",
}

// droppedCodes are response codes removed before comparison (see
// deliberateDifferences).
var droppedCodes = map[string]bool{"CAPABILITY": true, "HIGHESTMODSEQ": true, "NOMODSEQ": true, "ALERT": true, "MAILBOXID": true}

// normaliser turns one server's responses into canonical lines.
type normaliser struct{}

func newNormaliser() *normaliser { return &normaliser{} }

func (n *normaliser) uidValidity(string) string { return "V" }

// result normalises a command's responses: unordered responses sorted
// first, then message data in the order received, then the tagged status.
func (n *normaliser) result(res *imaptest.Result) []string {
	var unordered, ordered []string
	for _, r := range res.Untagged {
		l, keep := n.untagged(res.Command, r)
		if !keep {
			continue
		}
		switch r.Name {
		case "EXISTS", "EXPUNGE", "FETCH", "VANISHED":
			ordered = append(ordered, l)
		default:
			unordered = append(unordered, l)
		}
	}
	sort.Strings(unordered)
	out := append(unordered, ordered...)
	if res.Status != nil {
		out = append(out, n.status("tag", res.Status))
	}
	return out
}

func (n *normaliser) status(tag string, r *imaptest.Response) string {
	s := tag + " " + r.Name
	if r.Code != "" && !droppedCodes[r.Code] && r.Name != "BAD" && !(r.Name == "OK" && r.Code == "CLIENTBUG") {
		s += " [" + n.code(r) + "]"
	}
	return s
}

func (n *normaliser) code(r *imaptest.Response) string {
	args := slices.Clone(r.CodeArgs)
	switch r.Code {
	case "UIDVALIDITY":
		if len(args) == 1 {
			args[0].S = n.uidValidity(args[0].S)
		}
	case "APPENDUID", "COPYUID":
		if len(args) >= 1 {
			args[0].S = n.uidValidity(args[0].S)
		}
		for i := 1; i < len(args); i++ {
			args[i].S = canonSet(args[i].S)
		}
	case "PERMANENTFLAGS":
		if len(args) == 1 && args[0].Kind == imaptest.List {
			args[0] = sortedList(systemFlags(args[0]))
		}
	case "BADCHARSET":
		args = nil
	}
	s := r.Code
	for _, a := range args {
		s += " " + a.String()
	}
	return s
}

// untagged returns the canonical line for r, or false to drop it.
func (n *normaliser) untagged(command string, r *imaptest.Response) (string, bool) {
	if r.Tag == "+" {
		return "+", true
	}
	selecting := strings.Contains(strings.ToUpper(command), "SELECT") || strings.Contains(strings.ToUpper(command), "EXAMINE")
	if r.IsStatus() {
		if r.Name == "BYE" || r.Name == "PREAUTH" {
			return "* " + r.Name, true
		}
		if r.Code == "" || droppedCodes[r.Code] || r.Code == "PERMANENTFLAGS" && !selecting {
			return "", false
		}
		return n.status("*", r), true
	}
	args := slices.Clone(r.Args)
	switch r.Name {
	case "CAPABILITY":
		var caps []string
		for _, a := range args {
			if c := strings.ToUpper(a.S); slices.Contains(comparedCaps, c) {
				caps = append(caps, c)
			}
		}
		sort.Strings(caps)
		return "* CAPABILITY " + strings.Join(caps, " "), true
	case "ID":
		return "* ID (server data)", true
	case "ENABLED":
		if len(args) == 0 {
			return "", false
		}
	case "RECENT":
		if up := strings.ToUpper(command); !strings.Contains(up, "SELECT") && !strings.Contains(up, "EXAMINE") {
			return "", false
		}
	case "FETCH":
		return n.fetch(command, r), true
	case "FLAGS":
		if !selecting {
			return "", false
		}
		if len(args) == 1 {
			args[0] = sortedList(systemFlags(args[0]))
		}
	case "LIST", "LSUB":
		if len(args) >= 3 {
			args[0] = sortedList(listAttrs(r.Name, command, args[0]))
			args[2] = asString(args[2])
			for i := 3; i < len(args); i++ {
				args[i] = sortNested(args[i])
			}
		}
	case "STATUS":
		if len(args) == 2 && args[1].Kind == imaptest.List {
			args[0] = asString(args[0])
			args[1] = n.statusAttrs(args[1])
		}
	case "SEARCH", "SORT":
		for i, a := range args {
			if a.Kind == imaptest.List && len(a.L) == 2 && a.L[0].IsAtom("MODSEQ") {
				args[i].L = []imaptest.Value{a.L[0], {Kind: imaptest.Atom, S: "M"}}
			}
		}
		if r.Name == "SORT" {
			break
		}
		slices.SortFunc(args, func(a, b imaptest.Value) int {
			x, _ := a.Number()
			y, _ := b.Number()
			return int(x) - int(y)
		})
	case "ESEARCH":
		args = sortESearch(args)
		for i := range args {
			if args[i].Kind == imaptest.List && len(args[i].L) == 2 && args[i].L[0].IsAtom("TAG") {
				args[i].L = []imaptest.Value{args[i].L[0], {Kind: imaptest.String, S: "tag"}}
			}
			if i > 0 && args[i-1].IsAtom("MODSEQ") {
				args[i].S = "M"
			}
			// ESORT's ALL lists numbers in sort order (RFC 5267 §3.2):
			// only SEARCH's is a set.
			if i > 0 && args[i-1].IsAtom("ALL") {
				if strings.Contains(strings.ToUpper(command), "SORT") {
					args[i].S = expandOrdered(args[i].S)
				} else {
					args[i].S = canonSet(args[i].S)
				}
			}
		}
	}
	s := "*"
	if r.HasNum {
		s += " " + strconv.Itoa(int(r.Num))
	}
	s += " " + r.Name
	for _, a := range args {
		s += " " + a.String()
	}
	return s, true
}

func (n *normaliser) fetch(command string, r *imaptest.Response) string {
	items, err := r.FetchItems()
	if err != nil {
		return "* MALFORMED " + r.Raw
	}
	askedUID := strings.Contains(strings.ToUpper(command), "UID")
	parts := make([]string, 0, len(items))
	for _, it := range items {
		v := it.Value
		if it.Name == "UID" && !askedUID {
			continue
		}
		if strings.Contains(it.Name, "HEADER.FIELDS") {
			it.Name = strings.ReplaceAll(it.Name, `"`, "")
		}
		switch it.Name {
		case "FLAGS":
			v = sortedList(v)
		case "MODSEQ":
			v = modseqM
		case "INTERNALDATE":
			if strings.HasPrefix(v.S, " ") {
				v.S = "0" + v.S[1:]
			}
		}
		if strings.HasPrefix(it.Name, "BINARY[") && v.Binary && !strings.Contains(v.S, "\x00") {
			v.Binary = false
		}
		if (strings.HasPrefix(it.Name, "BODY[") || strings.HasPrefix(it.Name, "BINARY[")) && v.Kind == imaptest.Nil {
			v = imaptest.Value{Kind: imaptest.String}
		}
		if it.Name == "ENVELOPE" {
			v = decodeWords(v)
		}
		parts = append(parts, it.Name+" "+v.String())
	}
	sort.Strings(parts)
	return fmt.Sprintf("* %d FETCH (%s)", r.Num, strings.Join(parts, " "))
}

func (n *normaliser) statusAttrs(l imaptest.Value) imaptest.Value {
	var pairs [][2]imaptest.Value
	for i := 0; i+1 < len(l.L); i += 2 {
		k, v := l.L[i], l.L[i+1]
		k.S = strings.ToUpper(k.S)
		if k.S == "UIDVALIDITY" {
			v.S = n.uidValidity(v.S)
		}
		if k.S == "HIGHESTMODSEQ" {
			v.S = "M"
		}
		pairs = append(pairs, [2]imaptest.Value{k, v})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0].S < pairs[j][0].S })
	out := imaptest.Value{Kind: imaptest.List}
	for _, p := range pairs {
		out.L = append(out.L, p[0], p[1])
	}
	return out
}

// modseqM stands for any MODSEQ value: each server counts its own.
var modseqM = imaptest.Value{Kind: imaptest.List, L: []imaptest.Value{{Kind: imaptest.Atom, S: "M"}}}

// sortedList sorts a list of flags (case-insensitively, as flags are).
func sortedList(v imaptest.Value) imaptest.Value {
	if v.Kind != imaptest.List {
		return v
	}
	v.L = slices.Clone(v.L)
	sort.Slice(v.L, func(i, j int) bool { return strings.ToLower(v.L[i].String()) < strings.ToLower(v.L[j].String()) })
	return v
}

// sortNested sorts the lists inside LIST's extended data, e.g.
// ("CHILDINFO" ("SUBSCRIBED")).
func sortNested(v imaptest.Value) imaptest.Value {
	if v.Kind != imaptest.List {
		return v
	}
	out := v
	out.L = make([]imaptest.Value, len(v.L))
	for i, e := range v.L {
		out.L[i] = sortNested(e)
		if e.Kind == imaptest.Atom || e.Kind == imaptest.String {
			out.L[i] = asString(e)
		}
	}
	return out
}

// asString makes an atom a string: astring positions (mailbox names)
// allow either form.
func asString(v imaptest.Value) imaptest.Value {
	if v.Kind == imaptest.Atom {
		return imaptest.Value{Kind: imaptest.String, S: v.S}
	}
	v.Literal = false
	return v
}

// canonSet rewrites a sequence set as sorted, merged ranges; anything it
// cannot read is returned unchanged.
func canonSet(s string) string {
	var nums []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b-a > 100000 || a-b > 100000 {
			return s
		}
		if a > b {
			a, b = b, a
		}
		for i := a; i <= b; i++ {
			nums = append(nums, i)
		}
	}
	slices.Sort(nums)
	nums = slices.Compact(nums)
	var out []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i == j {
			out = append(out, strconv.Itoa(nums[i]))
		} else {
			out = append(out, strconv.Itoa(nums[i])+":"+strconv.Itoa(nums[j]))
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}

var specialUse = map[string]bool{`\ALL`: true, `\ARCHIVE`: true, `\DRAFTS`: true, `\FLAGGED`: true, `\JUNK`: true, `\SENT`: true, `\TRASH`: true}

// listAttrs drops the LIST attributes a server may send unasked (see
// deliberateDifferences), depending on what the command asked for.
func listAttrs(name, command string, v imaptest.Value) imaptest.Value {
	if v.Kind != imaptest.List {
		return v
	}
	up := strings.ToUpper(command)
	extended := strings.Contains(up, "LIST (") || strings.Contains(up, "RETURN") || strings.Contains(up, `" (`)
	out := imaptest.Value{Kind: imaptest.List, L: []imaptest.Value{}}
	for _, a := range v.L {
		attr := strings.ToUpper(a.S)
		switch {
		case (attr == `\HASCHILDREN` || attr == `\HASNOCHILDREN`) && !strings.Contains(up, "CHILDREN"):
			continue
		case attr == `\SUBSCRIBED` && !strings.Contains(up, "SUBSCRIBED"):
			continue
		case specialUse[attr] && (extended && !strings.Contains(up, "SPECIAL-USE") || name == "LSUB"):
			continue
		case attr == `\MARKED` || attr == `\UNMARKED`:
			continue
		}
		out.L = append(out.L, a)
	}
	return out
}

// sortESearch keeps the (TAG ...) correlator and UID first and sorts the
// return data pairs by name.
func sortESearch(args []imaptest.Value) []imaptest.Value {
	var head []imaptest.Value
	i := 0
	for i < len(args) && (args[i].Kind == imaptest.List || args[i].IsAtom("UID")) {
		head = append(head, args[i])
		i++
	}
	var pairs [][2]imaptest.Value
	for ; i+1 < len(args); i += 2 {
		pairs = append(pairs, [2]imaptest.Value{args[i], args[i+1]})
	}
	sort.Slice(pairs, func(a, b int) bool { return strings.ToUpper(pairs[a][0].S) < strings.ToUpper(pairs[b][0].S) })
	for _, p := range pairs {
		head = append(head, p[0], p[1])
	}
	return append(head, args[i:]...)
}

// decodeWords decodes RFC 2047 encoded words in every string of v.
func decodeWords(v imaptest.Value) imaptest.Value {
	switch v.Kind {
	case imaptest.String:
		if strings.Contains(v.S, "=?") {
			if d, err := new(mime.WordDecoder).DecodeHeader(v.S); err == nil {
				v.S = d
			}
		}
	case imaptest.List:
		l := make([]imaptest.Value, len(v.L))
		for i, e := range v.L {
			l[i] = decodeWords(e)
		}
		v.L = l
	}
	return v
}

// systemFlags keeps the system flags (and \*) of a flag list.
func systemFlags(v imaptest.Value) imaptest.Value {
	if v.Kind != imaptest.List {
		return v
	}
	out := imaptest.Value{Kind: imaptest.List, L: []imaptest.Value{}}
	for _, f := range v.L {
		if strings.HasPrefix(f.S, `\`) {
			out.L = append(out.L, f)
		}
	}
	return out
}

// expandOrdered writes out the ranges of an ordered sequence list (ESORT's
// ALL), keeping the order; anything it cannot read is returned unchanged.
func expandOrdered(s string) string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, ":")
		a, err1 := strconv.Atoi(lo)
		if !isRange {
			if err1 != nil {
				return s
			}
			out = append(out, lo)
			continue
		}
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b-a > 100000 || a-b > 100000 {
			return s
		}
		step := 1
		if b < a {
			step = -1
		}
		for i := a; ; i += step {
			out = append(out, strconv.Itoa(i))
			if i == b {
				break
			}
		}
	}
	return strings.Join(out, ",")
}
