package imap

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/imap/wire"
	"github.com/pochta-mail/pochta/internal/store"
)

// Bounds of one APPEND command beyond APPENDLIMIT (per message): how many
// messages a MULTIAPPEND may carry, how many octets all of them, and how
// many parts one CATENATE message.
const (
	maxAppendMessages = 1000
	maxAppendTotal    = 1 << 30
	maxCatenateParts  = 100
)

// cmdAppend: APPEND mailbox 1*(SP [flags] [date-time] data) (RFC 9051
// §6.3.12), with MULTIAPPEND (RFC 3502: several messages, all stored in
// one store transaction or none), CATENATE (RFC 4469, catenate.go),
// LITERAL+ (RFC 7888), literal8 (RFC 3516), UTF8 (RFC 6855), APPENDUID
// (RFC 4315) and APPENDLIMIT (RFC 7889).
//
// Each message is spooled (appendspool.go) as it arrives, because whether
// another one follows is only known after its data: the messages go to
// the store together, once the command is complete. A literal cut short,
// a malformed command, a bad URL or the quota store nothing. Everything
// that can refuse a message is checked before its data is asked for.
func (s *session) cmdAppend(string, bool) error {
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return no(codeTryCreate, "No such mailbox")
	} else if err != nil {
		return err
	}
	a := &appendState{s: s, budget: spoolMemoryBudget}
	defer a.close()
	if q, err := s.srv.Store.Quota(s.ctx, s.account.ID); err == nil && q.Limit > 0 {
		a.quotaLeft = max(q.Limit-q.Used, 0)
	} else {
		a.quotaLeft = -1
	}
	for {
		if err := s.p.SP(); err != nil {
			return err
		}
		if len(a.msgs) == maxAppendMessages {
			return badCode(codeLimit, "Too many messages in one APPEND")
		}
		if err := a.message(); err != nil {
			return err
		}
		if c, ok := s.p.Peek(); !ok || c != ' ' {
			break
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	ms := make([]store.AppendMessage, len(a.msgs))
	for i, m := range a.msgs {
		ms[i] = m.AppendMessage
		if ms[i].Body, err = m.body.reader(); err != nil {
			return err
		}
	}
	validity, uids, err := s.srv.Store.AppendMessages(s.ctx, mb.ID, ms)
	if err != nil {
		return err
	}
	s.ok("APPENDUID "+itoa(validity)+" "+wire.FormatNums(uids), "APPEND completed")
	return nil
}

// appendState is one APPEND command being read.
type appendState struct {
	s    *session
	msgs []spooledMessage
	// budget is the memory the command's spools may still take;
	// quotaLeft the octets the account may still store (-1: no quota);
	// total the octets spooled so far.
	budget    int64
	quotaLeft int64
	total     int64
}

type spooledMessage struct {
	store.AppendMessage
	body *spool
}

func (a *appendState) close() {
	for _, m := range a.msgs {
		m.body.close()
	}
}

// limit is the most octets the next literal of a message that has n so
// far may have: APPENDLIMIT for the message, the command's total bound.
func (a *appendState) limit(n int64) int64 {
	return max(min(a.s.srv.appendLimit()-n, maxAppendTotal-a.total), 0)
}

// message reads one message: [flag-list SP] [date-time SP] and its data,
// a literal (or literal8), UTF8 (literal8) or CATENATE (parts).
func (a *appendState) message() error {
	s := a.s
	var m store.AppendMessage
	if c, ok := s.p.Peek(); ok && c == '(' {
		flags, err := s.p.FlagList()
		if err != nil {
			return err
		}
		for _, f := range flags {
			switch {
			case strings.EqualFold(f, `\Recent`):
			case strings.HasPrefix(f, `\`) && !isSystemFlag(f):
				return bad("Invalid system flag %s", truncate(f, 32))
			default:
				m.Flags = append(m.Flags, store.CanonicalFlag(f))
			}
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
	if c, ok := s.p.Peek(); ok && c == '"' {
		var err error
		if m.InternalDate, err = s.p.DateTime(); err != nil {
			return err
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
	if m.InternalDate.IsZero() {
		m.InternalDate = time.Now()
	}
	body := newSpool(&a.budget)
	// Owned by a from here, so a.close removes it whatever happens.
	a.msgs = append(a.msgs, spooledMessage{AppendMessage: m, body: body})
	last := &a.msgs[len(a.msgs)-1]
	var err error
	switch {
	case s.p.AcceptFold("CATENATE"):
		err = a.catenate(last)
	case s.p.AcceptFold("UTF8"):
		// RFC 6855 §4: UTF8 (literal8).
		if err = s.p.SP(); err == nil {
			if err = s.p.Expect('('); err == nil {
				if err = a.literal(last, true); err == nil {
					err = s.p.Expect(')')
				}
			}
		}
	default:
		err = a.literal(last, true)
	}
	a.total += body.size()
	return err
}

// literal reads one literal into m's spool, refusing it before its data
// when it would exceed APPENDLIMIT or the quota. whole says it is the
// message's only literal (APPENDLIMIT's words then fit the refusal).
func (a *appendState) literal(m *spooledMessage, whole bool) error {
	s := a.s
	size, _, _, ok := s.p.PeekLiteral()
	if !ok {
		if whole {
			return bad("APPEND needs a literal")
		}
		return bad("TEXT needs a literal")
	}
	have := m.body.size()
	limit := a.limit(have)
	if size > limit {
		// The parser refuses it too (NO [TOOBIG], or BYE for a
		// non-synchronising literal whose data is on its way).
		_, _, _, err := s.p.Literal(limit)
		return err
	}
	if a.quotaLeft >= 0 && a.total+have+size > a.quotaLeft {
		return no(codeOverQuota, "Quota exceeded")
	}
	r, _, binary, err := s.p.Literal(limit)
	if err != nil {
		return err
	}
	// A literal8 may carry binary parts: stored byte for byte, so
	// BINARY[] gives them back exactly (RFC 3516 §4.2).
	m.Binary = m.Binary || binary
	if _, err := io.Copy(m.body, r); err != nil {
		// The connection failed mid-literal (nothing was stored, and
		// there is no one to answer) or the spool could not be written.
		return err
	}
	return nil
}
