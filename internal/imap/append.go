package imap

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// cmdAppend: APPEND mailbox [flags] [date-time] literal (RFC 9051 §6.3.12),
// with LITERAL+ (RFC 7888), literal8 (RFC 3516), UTF8 (RFC 6855),
// APPENDUID (RFC 4315) and APPENDLIMIT (RFC 7889). The literal streams
// straight into store.Append: nothing is buffered here, and a literal cut
// short stores nothing. Everything that can refuse the message is checked
// before its data is asked for.
func (s *session) cmdAppend(string, bool) error {
	name, err := s.mailboxArg()
	if err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
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
		if m.InternalDate, err = s.p.DateTime(); err != nil {
			return err
		}
		if err := s.p.SP(); err != nil {
			return err
		}
	}
	utf8 := false
	if s.p.AcceptFold("UTF8") {
		// RFC 6855 §4: UTF8 (literal8).
		if err := s.p.SP(); err != nil {
			return err
		}
		if err := s.p.Expect('('); err != nil {
			return err
		}
		utf8 = true
	}
	size, _, _, ok := s.p.PeekLiteral()
	if !ok {
		return bad("APPEND needs a literal")
	}
	limit := s.srv.appendLimit()
	if size > limit {
		// The parser refuses it too; say why in APPENDLIMIT's words.
		_, _, _, err := s.p.Literal(limit)
		return err
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return no(codeTryCreate, "No such mailbox")
	} else if err != nil {
		return err
	}
	if q, err := s.srv.Store.Quota(s.ctx, s.account.ID); err == nil && q.Limit > 0 && q.Used+size > q.Limit {
		return no(codeOverQuota, "Quota exceeded")
	}
	r, _, binary, err := s.p.Literal(limit)
	if err != nil {
		return err
	}
	tr := &trackReader{r: r}
	// A literal8 may carry binary parts: stored byte for byte, so BINARY[]
	// gives them back exactly (RFC 3516 §4.2).
	m.Body, m.Binary = tr, binary
	if m.InternalDate.IsZero() {
		m.InternalDate = time.Now()
	}
	validity, uid, err := s.srv.Store.Append(s.ctx, mb.ID, m)
	if tr.err != nil {
		// The connection failed mid-literal: nothing was stored, and
		// there is no one to answer.
		return tr.err
	}
	if err != nil {
		return err
	}
	if utf8 {
		err = s.p.Expect(')')
	}
	if err == nil {
		err = s.p.End()
	}
	if err != nil {
		// The command was malformed after all: take the message back,
		// it was never acknowledged.
		s.unappend(mb.ID, uid)
		return err
	}
	s.ok("APPENDUID "+itoa(validity)+" "+itoa(uid), "APPEND completed")
	return nil
}

// unappend removes a message APPEND stored but must not acknowledge.
func (s *session) unappend(mailboxID int64, uid uint32) {
	uids := []uint32{uid}
	if _, err := s.srv.Store.UpdateFlags(s.ctx, mailboxID, uids, store.FlagsAdd, []string{store.FlagDeleted}); err == nil {
		_, err = s.srv.Store.Expunge(s.ctx, mailboxID, uids)
		if err == nil {
			return
		}
	}
	s.log.Warn("imap: removing a message of a malformed APPEND", "uid", uid)
}

// trackReader remembers a read error other than EOF.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}
