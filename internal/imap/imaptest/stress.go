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
	condstore  bool              // the server offers CONDSTORE (another third ENABLE it)
	// omitted are messages an OK FETCH left out: allowed only for
	// messages another session expunged, so none may exist at the end.
	omitted map[string]map[uint32]string // mailbox -> UID -> the command
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
	run.condstore = slices.Contains(caps, "CONDSTORE") && slices.Contains(caps, "ENABLE")
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
