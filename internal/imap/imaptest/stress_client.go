package imaptest

// One stress session: its random steps, and how each answer is checked
// against the session's model of its mailbox (model.go).

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

// checkNewUIDs: UIDs assigned by a command (APPENDUID, COPYUID) or
// predicted by UIDNEXT must be above every UID reported in that mailbox
// before the command was sent (RFC 9051 §2.3.1.1: strictly ascending,
// never reused). before is the highest UID known when it was sent.
func (c *stressClient) checkNewUIDs(command, mailbox string, before uint32, res *Result) {
	if res == nil || !res.OK() {
		return
	}
	var set string
	switch {
	case res.Status.Code == "APPENDUID" && len(res.Status.CodeArgs) == 2:
		set = res.Status.CodeArgs[1].S
	case res.Status.Code == "COPYUID" && len(res.Status.CodeArgs) == 3:
		set = res.Status.CodeArgs[2].S
	}
	for _, r := range res.Untagged {
		if r.Code == "COPYUID" && len(r.CodeArgs) == 3 { // MOVE sends it untagged
			set = r.CodeArgs[2].S
		}
		if r.Code == "UIDNEXT" && len(r.CodeArgs) == 1 {
			if n, ok := r.CodeArgs[0].Number(); ok && n <= before {
				c.run.violate(c.id, command, fmt.Sprintf("UIDNEXT %d but UID %d of %s was already reported (RFC 9051 §2.3.1.1)", n, before, mailbox))
			}
		}
	}
	if set == "" {
		return
	}
	for _, part := range strings.Split(set, ",") {
		for _, s := range strings.Split(part, ":") {
			u, err := strconv.ParseUint(s, 10, 32)
			if err != nil {
				c.run.violate(c.id, command, "unreadable UID set "+set)
				return
			}
			if uint32(u) <= before {
				c.run.violate(c.id, command, fmt.Sprintf("new message got UID %d in %s, not above UID %d reported earlier (RFC 9051 §2.3.1.1: UIDs are never reused)", u, mailbox, before))
			}
			c.run.seenUID(mailbox, uint32(u))
		}
	}
}

var stressFlags = []string{`\Seen`, `\Flagged`, `\Answered`, `\Draft`, `\Deleted`, "$Stress1", "$Stress2", "$Stress3", "$Stress4"}

// stressClient is one session.
type stressClient struct {
	run      *stressRun
	id       int
	rnd      *rand.Rand
	conn     *Conn
	v        *view // nil when no mailbox is selected
	readOnly bool  // the mailbox was opened with EXAMINE
	rev2     bool  // this session ENABLEd IMAP4rev2
	// condstore: this session ENABLEd CONDSTORE (RFC 7162), and its
	// model checks MODSEQ.
	condstore bool
}

func (c *stressClient) loop(deadline time.Time) {
	for time.Now().Before(deadline) && !c.run.stop.Load() {
		if c.conn == nil {
			conn, err := c.run.dial()
			if err != nil {
				c.run.violate(c.id, "connect and LOGIN", err.Error())
				return
			}
			c.conn, c.v = conn, nil
			if c.run.rev2 && c.id%3 == 0 {
				// IMAP4rev2 sessions (RFC 9051): no \Recent, ESEARCH
				// for SEARCH; the same model holds.
				res := c.do("ENABLE", "ENABLE IMAP4rev2")
				c.rev2 = res != nil && len(res.Named("ENABLED")) == 1 && len(res.Named("ENABLED")[0].Args) == 1
				if c.rev2 {
					c.run.mu.Lock()
					c.run.commands["(sessions in IMAP4rev2)"]++
					c.run.mu.Unlock()
				}
			} else {
				c.rev2 = false
			}
			c.condstore = false
			if c.run.condstore && c.id%3 == 1 {
				res := c.do("ENABLE", "ENABLE CONDSTORE")
				c.condstore = res != nil && len(res.Named("ENABLED")) == 1 && len(res.Named("ENABLED")[0].Args) == 1
				if c.condstore {
					c.run.mu.Lock()
					c.run.commands["(sessions with CONDSTORE)"]++
					c.run.mu.Unlock()
				}
			}
		}
		if c.v == nil {
			c.selectMailbox()
			continue
		}
		c.step()
	}
}

// do runs a command, applies its untagged responses to the model and
// reports contradictions; it returns nil when the session is unusable.
func (c *stressClient) do(kind string, args ...any) *Result {
	res, err := c.conn.Do(args...)
	return c.finish(kind, res, err)
}

func (c *stressClient) finish(kind string, res *Result, err error) *Result {
	command := kind
	if res != nil && res.Command != "" {
		command = res.Command
	}
	if c.v != nil && res != nil {
		for _, r := range res.Untagged {
			for _, e := range c.v.apply(cmdKind{name: kind}, r, c.run.reg) {
				c.run.violate(c.id, command, e)
			}
			if r.Code == "UIDVALIDITY" && len(r.CodeArgs) == 1 {
				c.checkValidity(command, r.CodeArgs[0].S)
			}
			if r.Name == "FETCH" {
				if u, ok := r.FetchItem("UID"); ok {
					if n, ok := u.Number(); ok {
						c.run.seenUID(c.v.mailbox, n)
					}
				}
			}
		}
	}
	if err != nil {
		c.run.violate(c.id, command, "no complete answer: "+err.Error())
		c.conn.Close()
		c.conn, c.v = nil, nil
		return nil
	}
	switch {
	case res.Status.Name == "BAD":
		c.run.violate(c.id, command, "BAD for a valid command: "+strings.TrimRight(res.Status.Raw, "\r\n"))
	case res.Status.Name == "NO" && !c.mayRefuse(kind, res.Status.Code):
		c.run.violate(c.id, command, "refused: "+strings.TrimRight(res.Status.Raw, "\r\n"))
	}
	c.run.mu.Lock()
	c.run.commands[kind]++
	c.run.mu.Unlock()
	return res
}

// mayRefuse says whether NO is a legitimate answer: a message another
// session expunged (RFC 9051 §7.1, EXPUNGEISSUED), or a change to a
// mailbox opened with EXAMINE (RFC 9051 §6.3.3). Every mailbox the run
// uses exists, and every command it sends is valid.
func (c *stressClient) mayRefuse(kind, code string) bool {
	if code == "SERVERBUG" {
		return false
	}
	if code == "EXPUNGEISSUED" {
		return true
	}
	switch kind {
	case "STORE", "UID STORE", "EXPUNGE", "UID EXPUNGE", "MOVE", "UID MOVE":
		return c.readOnly
	case "CREATE", "RENAME", "DELETE":
		return true // the scratch mailboxes may exist or not
	}
	return false
}

// checkValidity: no mailbox is deleted or renamed during the run, so its
// UIDVALIDITY must never change (RFC 9051 §2.3.1.1).
func (c *stressClient) checkValidity(command, v string) {
	c.run.mu.Lock()
	old, ok := c.run.validity[c.v.mailbox]
	if !ok {
		c.run.validity[c.v.mailbox] = v
	}
	c.run.mu.Unlock()
	if ok && old != v {
		c.run.violate(c.id, command, fmt.Sprintf("UIDVALIDITY of %s changed from %s to %s", c.v.mailbox, old, v))
	}
}

func (c *stressClient) pick(xs []string) string { return xs[c.rnd.IntN(len(xs))] }

func (c *stressClient) selectMailbox() {
	mb := c.pick(c.run.o.Mailboxes)
	verb := "SELECT"
	if c.rnd.IntN(6) == 0 {
		verb = "EXAMINE"
	}
	c.v, c.readOnly = newView(mb), verb == "EXAMINE"
	c.v.rev2, c.v.condstore = c.rev2, c.condstore
	before := c.run.highestUID(mb)
	res := c.do(verb, verb, Quote(mb))
	c.checkNewUIDs(verb+" "+mb, mb, before, res)
	if res == nil {
		return
	}
	if !res.OK() {
		c.run.violate(c.id, res.Command, "failed: "+strings.TrimRight(res.Status.Raw, "\r\n"))
		c.v = nil
		return
	}
	if !c.v.flagsSet {
		c.run.violate(c.id, res.Command, "no FLAGS response (RFC 9051 §6.3.2)")
	}
	// Learn every UID and flag; from now on the model is complete.
	c.do("UID FETCH", "UID FETCH 1:* (UID FLAGS)")
}

// seqRange returns a random "a:b" within the session's messages, or "".
func (c *stressClient) seqRange() string {
	n := len(c.v.uids)
	if n == 0 {
		return ""
	}
	a := 1 + c.rnd.IntN(n)
	b := min(n, a+c.rnd.IntN(5))
	if a == b {
		return strconv.Itoa(a)
	}
	return fmt.Sprintf("%d:%d", a, b)
}

// uidRange returns a random known UID range, or "".
func (c *stressClient) uidRange() string {
	var known []uint32
	for _, u := range c.v.uids {
		if u != 0 {
			known = append(known, u)
		}
	}
	if len(known) == 0 {
		return ""
	}
	i := c.rnd.IntN(len(known))
	j := min(len(known)-1, i+c.rnd.IntN(4))
	return fmt.Sprintf("%d:%d", known[i], known[j])
}

func (c *stressClient) otherMailbox() string {
	for {
		mb := c.pick(c.run.o.Mailboxes)
		if mb != c.v.mailbox || len(c.run.o.Mailboxes) == 1 {
			return mb
		}
	}
}

func (c *stressClient) flagList() string {
	k := 1 + c.rnd.IntN(3)
	var fl []string
	for range k {
		f := c.pick(stressFlags)
		if !slices.Contains(fl, f) {
			fl = append(fl, f)
		}
	}
	return "(" + strings.Join(fl, " ") + ")"
}

var fetchItems = []string{
	"(FLAGS)", "(UID FLAGS)", "(UID RFC822.SIZE BODY.PEEK[])", "(FLAGS BODY.PEEK[HEADER.FIELDS (X-Stress-Id)])",
	"(UID INTERNALDATE RFC822.SIZE)", "(RFC822.SIZE BODY.PEEK[])", "(UID FLAGS BODY[])",
}

// step sends one random command in selected state.
func (c *stressClient) step() {
	switch r := c.rnd.IntN(100); {
	case r < 5:
		c.selectMailbox()
	case r < 30:
		if set := c.seqRange(); set != "" {
			c.fetch("FETCH", set, c.pick(fetchItems))
		}
	case r < 40:
		if set := c.uidRange(); set != "" {
			c.fetch("UID FETCH", set, c.pick(fetchItems))
		}
	case r < 55:
		op := c.pick([]string{"+FLAGS", "-FLAGS", "FLAGS", "+FLAGS.SILENT", "-FLAGS.SILENT"})
		if c.rnd.IntN(3) == 0 {
			if set := c.uidRange(); set != "" {
				c.do("UID STORE", "UID STORE", set, op, c.flagList())
			}
		} else if set := c.seqRange(); set != "" {
			c.do("STORE", "STORE", set, op, c.flagList())
		}
	case r < 62:
		if c.rnd.IntN(2) == 0 {
			c.do("EXPUNGE", "EXPUNGE")
		} else if set := c.uidRange(); set != "" {
			c.do("UID EXPUNGE", "UID EXPUNGE", set)
		}
	case r < 73:
		mb := c.pick(c.run.o.Mailboxes)
		before := c.run.highestUID(mb)
		res := c.do("APPEND", "APPEND", Quote(mb), c.flagList(), LitPlus(c.run.newMessage(c.rnd)))
		c.checkNewUIDs("APPEND to "+mb, mb, before, res)
	case r < 75:
		c.cutAppend()
	case r < 82:
		if set := c.seqRange(); set != "" {
			mb := c.otherMailbox()
			before := c.run.highestUID(mb)
			c.checkNewUIDs("COPY to "+mb, mb, before, c.do("COPY", "COPY", set, Quote(mb)))
		}
	case r < 88:
		verb, set := "UID MOVE", c.uidRange()
		if c.rnd.IntN(2) == 0 {
			verb, set = "MOVE", c.seqRange()
		}
		if set != "" {
			mb := c.otherMailbox()
			before := c.run.highestUID(mb)
			c.checkNewUIDs(verb+" to "+mb, mb, before, c.do(verb, verb, set, Quote(mb)))
		}
	case r < 92:
		c.do("SEARCH", "SEARCH", c.pick([]string{"ALL", "UNSEEN", "KEYWORD $Stress1", "BODY banana", "FLAGGED", "UID 1:*"}))
	case r < 94:
		c.do("NOOP", "NOOP")
	case r < 96:
		c.churn()
	case r < 98:
		c.list()
	default:
		c.idle()
	}
}

// cutAppend starts an APPEND, sends half of its literal and closes the
// connection: the server must store nothing (checked by checkCut and by
// every BODY[] fetched afterwards).
func (c *stressClient) cutAppend() {
	msg := c.run.newMessage(c.rnd)
	id, _ := stressID(msg)
	c.run.reg.markCut(id)
	mb := c.pick(c.run.o.Mailboxes)
	c.conn.Write([]byte(fmt.Sprintf("cut APPEND %s () {%d+}\r\n%s", Quote(mb), len(msg), msg[:len(msg)/2])))
	c.conn.Close()
	c.conn, c.v = nil, nil
	c.run.mu.Lock()
	c.run.commands["APPEND cut short"]++
	c.run.mu.Unlock()
}

// scratch are mailboxes the clients create, rename and delete under each
// other's feet; none is ever selected, and the run's own mailboxes are
// never touched.
var scratch = []string{"Stress/Tmp0", "Stress/Tmp1", "Stress/Tmp1/Sub", "Stress/Tmp2"}

// churn creates, renames or deletes a scratch mailbox.
func (c *stressClient) churn() {
	a, b := Quote(c.pick(scratch)), Quote(c.pick(scratch))
	switch c.rnd.IntN(3) {
	case 0:
		c.do("CREATE", "CREATE", a)
	case 1:
		c.do("RENAME", "RENAME", a, b)
	default:
		c.do("DELETE", "DELETE", a)
	}
}

// list: while scratch mailboxes come and go, LIST must still show each of
// the run's own mailboxes, and no name twice.
func (c *stressClient) list() {
	res := c.do("LIST", `LIST "" "*"`)
	if res == nil || !res.OK() {
		return
	}
	seen := map[string]bool{}
	for _, r := range res.Named("LIST") {
		if len(r.Args) < 3 {
			c.run.violate(c.id, res.Command, "malformed LIST response: "+strconv.Quote(trunc(r.Raw)))
			continue
		}
		name := r.Args[2].S
		if strings.EqualFold(name, "INBOX") {
			name = "INBOX"
		}
		if seen[name] {
			c.run.violate(c.id, res.Command, "LIST shows "+name+" twice")
		}
		seen[name] = true
	}
	for _, mb := range c.run.o.Mailboxes {
		if !seen[mb] {
			c.run.violate(c.id, res.Command, "LIST does not show "+mb+", which exists (scratch mailboxes were changing around it)")
		}
	}
}

// fetch runs FETCH or UID FETCH; when UIDs come back, the messages an OK
// answer left out are remembered for checkOmitted.
func (c *stressClient) fetch(verb, set, items string) {
	want := c.requested(verb == "UID FETCH", set)
	mb := c.v.mailbox
	res := c.do(verb, verb, set, items)
	if res == nil || !res.OK() || (verb == "FETCH" && !strings.Contains(items, "UID")) {
		return
	}
	got := map[uint32]bool{}
	for _, r := range res.Untagged {
		if r.Name != "FETCH" {
			continue
		}
		u, ok := r.FetchItem("UID")
		if !ok {
			continue // an unsolicited flag update may come without UID
		}
		n, _ := u.Number()
		got[n] = true
	}
	for _, u := range want {
		if !got[u] {
			c.run.omit(mb, u, fmt.Sprintf("client %d, %s", c.id, res.Command))
		}
	}
}

// requested returns the known UIDs a sequence or UID range names.
func (c *stressClient) requested(uid bool, set string) []uint32 {
	lo, hi, _ := strings.Cut(set, ":")
	a, _ := strconv.Atoi(lo)
	b := a
	if hi != "" {
		b, _ = strconv.Atoi(hi)
	}
	var out []uint32
	for i, u := range c.v.uids {
		switch {
		case u == 0:
		case uid && int(u) >= a && int(u) <= b:
			out = append(out, u)
		case !uid && i+1 >= a && i+1 <= b:
			out = append(out, u)
		}
	}
	return out
}

// idle runs IDLE for a random short while; DONE is sent by a timer while
// this goroutine reads the updates.
func (c *stressClient) idle() {
	res, done, err := c.conn.Start("IDLE")
	if err != nil || done {
		c.finish("IDLE", res, err)
		return
	}
	for {
		r, err := c.conn.ReadResponse()
		if err != nil {
			c.finish("IDLE", res, err)
			return
		}
		if r.Tag == "+" {
			break
		}
		if r.Tag == res.Tag() {
			res.Status = r
			c.finish("IDLE", res, nil)
			return
		}
		res.Untagged = append(res.Untagged, r)
	}
	// The timer writes to the net.Conn itself, not through the buffered
	// writer this goroutine uses.
	nc := c.conn.NetConn()
	timer := time.AfterFunc(time.Duration(50+c.rnd.IntN(250))*time.Millisecond, func() { nc.Write([]byte("DONE\r\n")) })
	conn := c.conn
	res, err = conn.Wait(res)
	if err != nil {
		timer.Stop()
	}
	c.finish("IDLE", res, err)
}
