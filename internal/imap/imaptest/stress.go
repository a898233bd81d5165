package imaptest

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// StressOptions configure Stress.
type StressOptions struct {
	Addr       string
	User, Pass string        // every client logs in as this user, so they share mailboxes
	Clients    int           // default 10
	Duration   time.Duration // default 20 s
	// Mailboxes the clients work in; created when missing. Default
	// INBOX, Stress/A, Stress/B.
	Mailboxes []string
	// Seed makes the random choices repeatable (per client: Seed+i).
	Seed uint64
	// MaxViolations stops the run early once this many kinds of
	// violation were found (default 100).
	MaxViolations int
	// Deliver, when set, puts a message into the user's INBOX by another
	// path than this IMAP connection (another process: `pochta deliver`,
	// dovecot-lda). It is called every 100-400 ms during the run, so the
	// sessions also see changes made outside the server process.
	Deliver func(msg string) error
}

// StressReport is what a stress run found.
type StressReport struct {
	Commands map[string]int // commands completed, by name
	// Counts are the violations (responses that contradicted a
	// session's model) by kind; Violations holds up to five examples of
	// each kind, each followed by NUL and its kind.
	Counts     map[string]int
	Violations []string
	// Omitted counts the messages OK FETCH answers left out (each then
	// checked to have been expunged).
	Omitted int
}

var digits = regexp.MustCompile(`[0-9]+`)

// violationKind is a violation with the client, the command, the numbers
// and the response left out, so equal faults group together.
func violationKind(msg string) string {
	if i := strings.Index(msg, " (response:"); i >= 0 {
		msg = msg[:i]
	}
	rfc := ""
	if i := strings.Index(msg, " (RFC"); i >= 0 {
		msg, rfc = msg[:i], msg[i:]
	}
	return digits.ReplaceAllString(msg, "N") + rfc
}

// Summary lists the kinds of violation, most frequent first, with
// examples.
func (r *StressReport) Summary() string {
	kinds := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return r.Counts[b] - r.Counts[a] })
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%dx %s\n", r.Counts[k], k)
		n := 0
		for _, v := range r.Violations {
			if n < 3 && strings.HasSuffix(v, "\x00"+k) {
				fmt.Fprintf(&b, "    e.g. %s\n", strings.TrimSuffix(v, "\x00"+k))
				n++
			}
		}
	}
	return b.String()
}

func (o *StressOptions) defaults() {
	if o.Clients <= 0 {
		o.Clients = 10
	}
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if len(o.Mailboxes) == 0 {
		o.Mailboxes = []string{"INBOX", "Stress/A", "Stress/B"}
	}
	if o.MaxViolations <= 0 {
		o.MaxViolations = 100
	}
}

// stressRun is the state the clients share.
type stressRun struct {
	o      StressOptions
	reg    *registry
	nextID atomic.Int64
	stop   atomic.Bool

	mu         sync.Mutex
	violations []string
	counts     map[string]int
	commands   map[string]int
	validity   map[string]string // mailbox -> UIDVALIDITY first seen
	maxUID     map[string]uint32 // mailbox -> highest UID any response reported
	rev2       bool              // the server offers IMAP4rev2 (a third of the clients ENABLE it)
	// omitted are messages an OK FETCH left out: allowed only for
	// messages another session expunged, so none may exist at the end.
	omitted map[string]map[uint32]string // mailbox -> UID -> the command
}

func (run *stressRun) omit(mailbox string, uid uint32, command string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.omitted[mailbox] == nil {
		run.omitted[mailbox] = map[uint32]string{}
	}
	run.omitted[mailbox][uid] = command
}

// checkOmitted: every message an OK FETCH left out must be gone.
func (run *stressRun) checkOmitted() {
	for mb, uids := range run.omitted {
		v, err := run.freshView(-1, mb)
		if err != nil {
			run.violate(-1, "final check of "+mb, "fresh session: "+err.Error())
			continue
		}
		for _, u := range v.uids {
			if command, ok := uids[u]; ok {
				run.violate(-1, command, fmt.Sprintf("answered OK without UID %d of %s, which was never expunged (RFC 9051 §6.4.5; only an expunged message may be left out, RFC 2180 §4.1)", u, mb))
			}
		}
	}
}

// seenUID records a UID reported for a message of mailbox.
func (run *stressRun) seenUID(mailbox string, uid uint32) {
	run.mu.Lock()
	run.maxUID[mailbox] = max(run.maxUID[mailbox], uid)
	run.mu.Unlock()
}

func (run *stressRun) highestUID(mailbox string) uint32 {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.maxUID[mailbox]
}

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

// Stress runs Clients concurrent sessions against an IMAP server for
// Duration, each sending random SELECT, FETCH, STORE, EXPUNGE, APPEND,
// COPY, MOVE, SEARCH, NOOP and IDLE commands while keeping a model of its
// selected mailbox from what the server announced; every response that
// contradicts the model is a violation. At the end every client's model
// is compared with a fresh session's view of the same mailbox. The
// returned error is for setup failures only.
func Stress(o StressOptions) (*StressReport, error) {
	o.defaults()
	run := &stressRun{o: o, reg: newRegistry(), commands: map[string]int{}, counts: map[string]int{}, validity: map[string]string{}, maxUID: map[string]uint32{}, omitted: map[string]map[uint32]string{}}
	if err := run.setup(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(o.Duration)
	var wg sync.WaitGroup
	clients := make([]*stressClient, o.Clients)
	for i := range clients {
		clients[i] = &stressClient{run: run, id: i, rnd: rand.New(rand.NewPCG(o.Seed+uint64(i), 0x5eed))}
	}
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.loop(deadline)
		}()
	}
	if o.Deliver != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.deliverLoop(deadline)
		}()
	}
	wg.Wait()
	// Everyone has stopped: each live session must now agree with a
	// fresh one about its mailbox.
	for _, c := range clients {
		c.finalCheck()
	}
	run.checkOmitted()
	run.checkCut()
	for _, c := range clients {
		if c.conn != nil {
			c.conn.Close()
		}
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	omitted := 0
	for _, uids := range run.omitted {
		omitted += len(uids)
	}
	return &StressReport{Commands: run.commands, Counts: run.counts, Violations: run.violations, Omitted: omitted}, nil
}

func (run *stressRun) violate(client int, command string, msg string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	kind := violationKind(msg)
	run.counts[kind]++
	if run.counts[kind] <= 5 {
		run.violations = append(run.violations, fmt.Sprintf("client %d, %s: %s\x00%s", client, command, msg, kind))
	}
	if len(run.counts) >= run.o.MaxViolations {
		run.stop.Store(true)
	}
}

func (run *stressRun) dial() (*Conn, error) {
	c, err := Dial(run.o.Addr, Options{Timeout: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := c.Login(run.o.User, run.o.Pass); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// setup creates the mailboxes and puts a few messages in each.
func (run *stressRun) setup() error {
	c, err := run.dial()
	if err != nil {
		return fmt.Errorf("stress setup: %w", err)
	}
	defer c.Close()
	res, err := c.MustOK("CAPABILITY")
	if err != nil {
		return fmt.Errorf("stress setup: %w", err)
	}
	caps := Capabilities(res.Untagged...)
	run.rev2 = slices.Contains(caps, "IMAP4REV2") && slices.Contains(caps, "ENABLE")
	rnd := rand.New(rand.NewPCG(run.o.Seed, 1))
	for _, mb := range run.o.Mailboxes {
		if !strings.EqualFold(mb, "INBOX") {
			if _, err := c.Do("CREATE", Quote(mb)); err != nil { // NO [ALREADYEXISTS] is fine
				return fmt.Errorf("stress setup: %w", err)
			}
		}
		for range 10 {
			if _, err := c.MustOK("APPEND", Quote(mb), "()", Lit(run.newMessage(rnd))); err != nil {
				return fmt.Errorf("stress setup: %w", err)
			}
		}
	}
	return nil
}

// newMessage makes a message with a unique X-Stress-Id and registers it.
func (run *stressRun) newMessage(rnd *rand.Rand) string {
	id := strconv.FormatInt(run.nextID.Add(1), 10)
	var b strings.Builder
	fmt.Fprintf(&b, "X-Stress-Id: %s\r\nFrom: stress%d@example.org\r\nTo: user@example.test\r\nSubject: stress message %s\r\nDate: Mon, 6 May 2024 07:08:09 +0000\r\n\r\n", id, rnd.IntN(5), id)
	lines := 1 + rnd.IntN(40)
	if rnd.IntN(20) == 0 {
		lines = 500 + rnd.IntN(1500) // a larger literal now and then
	}
	for i := range lines {
		fmt.Fprintf(&b, "line %d of message %s, some words: apple banana cherry %d\r\n", i, id, rnd.IntN(1000))
	}
	m := b.String()
	run.reg.add(id, m)
	return m
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
	c.v.rev2 = c.rev2
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

// deliverLoop delivers a message from outside now and then until the
// deadline. The pause only paces the deliveries; nothing is concluded from
// it.
func (run *stressRun) deliverLoop(deadline time.Time) {
	rnd := rand.New(rand.NewPCG(run.o.Seed, 2))
	for time.Now().Before(deadline) && !run.stop.Load() {
		if err := run.o.Deliver(run.newMessage(rnd)); err != nil {
			run.violate(-1, "external delivery", err.Error())
			return
		}
		run.mu.Lock()
		run.commands["(delivered from outside)"]++
		run.mu.Unlock()
		time.Sleep(time.Duration(100+rnd.IntN(300)) * time.Millisecond)
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

// checkCut: no mailbox may hold a message whose APPEND was cut short.
func (run *stressRun) checkCut() {
	conn, err := run.dial()
	if err != nil {
		run.violate(-1, "final check", err.Error())
		return
	}
	defer conn.Close()
	for _, mb := range run.o.Mailboxes {
		res, err := conn.MustOK("EXAMINE", Quote(mb))
		if err != nil {
			run.violate(-1, "final check", err.Error())
			return
		}
		if len(res.Named("EXISTS")) == 0 || res.Named("EXISTS")[0].Num == 0 {
			continue
		}
		res, err = conn.MustOK("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-Stress-Id)])")
		if err != nil {
			run.violate(-1, "final check", err.Error())
			return
		}
		for _, r := range res.Named("FETCH") {
			for _, it := range mustItems(r) {
				if !strings.HasPrefix(it.Name, "BODY[HEADER.FIELDS") {
					continue
				}
				if id, ok := stressID(it.Value.S); ok && run.reg.isCut(id) {
					run.violate(-1, "final check of "+mb, fmt.Sprintf("message %s is stored although its APPEND was cut short by a closed connection (issue 8: a cut APPEND stores nothing)", id))
				}
			}
		}
	}
}

func mustItems(r *Response) []FetchItem {
	items, _ := r.FetchItems()
	return items
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

// finalCheck: after everyone stopped, the session's model must equal what
// a fresh session sees (same UIDs in the same order, same flags).
func (c *stressClient) finalCheck() {
	if c.conn == nil || c.v == nil {
		return
	}
	mb := c.v.mailbox
	want, err := c.run.freshView(c.id, mb)
	if err != nil {
		c.run.violate(c.id, "final check of "+mb, "fresh session: "+err.Error())
		return
	}
	// Updates may still be on their way to the old session (changes from
	// another process arrive with the store's polling, every 500 ms in
	// Pochta): NOOP until it agrees, for up to 5 s, then report the
	// difference.
	var diff string
	for give := time.Now().Add(5 * time.Second); time.Now().Before(give); {
		if c.do("NOOP", "NOOP") == nil {
			return
		}
		if len(c.v.uids) > 0 && c.do("FETCH", "FETCH 1:* (UID FLAGS)") == nil {
			return
		}
		if diff = compareViews(c.v, want); diff == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.run.violate(c.id, "final check of "+mb, diff)
}

// freshView is a new session's view of a mailbox: EXAMINE, then every
// UID and flag.
func (run *stressRun) freshView(client int, mb string) (*view, error) {
	conn, err := run.dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v := newView(mb)
	for _, command := range []string{"EXAMINE " + Quote(mb), "FETCH 1:* (UID FLAGS)"} {
		if command[0] == 'F' && len(v.uids) == 0 {
			break
		}
		res, err := conn.MustOK(command)
		if err != nil {
			return nil, err
		}
		for _, r := range res.Untagged {
			for _, e := range v.apply(cmdKind{name: strings.Fields(command)[0]}, r, run.reg) {
				run.violate(client, "fresh session "+command, e)
			}
		}
	}
	return v, nil
}

func compareViews(got, want *view) string {
	if !slices.Equal(got.uids, want.uids) {
		return fmt.Sprintf("the session's UIDs %v differ from a fresh session's %v", abbrev(got.uids), abbrev(want.uids))
	}
	for _, u := range want.uids {
		g, w := withoutRecent(got.flags[u]), withoutRecent(want.flags[u])
		if !slices.Equal(g, w) {
			return fmt.Sprintf("UID %d: the session has flags %v, a fresh session %v", u, g, w)
		}
	}
	return ""
}

func withoutRecent(fl []string) []string {
	var out []string
	for _, f := range fl {
		if !strings.EqualFold(f, `\Recent`) {
			out = append(out, strings.ToLower(f))
		}
	}
	slices.Sort(out)
	return out
}

func abbrev(u []uint32) string {
	if len(u) > 30 {
		return fmt.Sprint(u[:30]) + fmt.Sprintf("... (%d)", len(u))
	}
	return fmt.Sprint(u)
}
