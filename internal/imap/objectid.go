package imap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// OBJECTID (RFC 8474) and SAVEDATE (RFC 8514).
//
// MAILBOXID is "F" and the store's mailbox id, which is never reused and
// survives RENAME (the mailbox RENAME INBOX creates gets a new one, as
// §4.2 wants). EMAILID is "M" and the store's email id, which a copy and
// a moved message keep. Both are as stable as the store's ids: an export
// and import into another installation gives new ones, which RFC 8474
// allows (they are not meant to cross servers).
//
// THREADID is derived from the message itself, so it needs no index and
// is the same in every mailbox: "T" and 16 hex digits of a SHA-256 of the
// thread's root Message-ID, the first one of References, else of
// In-Reply-To, else the message's own Message-ID. Replies that keep
// References (RFC 5322 §3.6.4 tells them to keep its first id) share the
// root's THREADID. A message with no Message-ID at all is a thread of its
// own, "Tx" and its email id. Messages with the same EMAILID have the
// same content and so the same THREADID (§5.2).

func mailboxObjectID(mb store.Mailbox) string { return "F" + strconv.FormatInt(mb.ID, 10) }

func emailObjectID(m *store.Message) string { return "M" + strconv.FormatInt(m.EmailID, 10) }

// threadObjectID is the THREADID of a message with envelope env.
func threadObjectID(env *message.Envelope, emailID int64) string {
	root := ""
	if env == nil {
		env = &message.Envelope{}
	}
	for _, field := range []string{env.References, env.InReplyTo, env.MessageID} {
		if ids := message.MessageIDs(field); len(ids) > 0 {
			root = ids[0]
			break
		}
	}
	if root == "" {
		return "Tx" + strconv.FormatInt(emailID, 10)
	}
	sum := sha256.Sum256([]byte(root))
	return "T" + hex.EncodeToString(sum[:8])
}

// parseEmailObjectID returns the email id of an EMAILID, or -1 for a
// string that is not one of ours (it then matches no message).
func parseEmailObjectID(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "M"), 10, 64)
	if !strings.HasPrefix(s, "M") || err != nil || n <= 0 {
		return -1
	}
	return n
}

// validObjectID checks the RFC 8474 objectid syntax: 1*255 of ALPHA,
// DIGIT, "_" and "-".
func validObjectID(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// objectIDKey parses the argument of the EMAILID and THREADID search
// keys (RFC 8474 §6).
func (s *session) objectIDKey(c *searchCmd, name string) (*searchKey, error) {
	if err := s.p.SP(); err != nil {
		return nil, err
	}
	id, err := s.p.Atom()
	if err != nil {
		return nil, err
	}
	if !validObjectID(id) {
		return nil, bad("Invalid %s", name)
	}
	if name == "EMAILID" {
		return &searchKey{op: opEmailID, n: parseEmailObjectID(id)}, nil
	}
	c.threads = true
	return &searchKey{op: opThreadID, flag: id}, nil
}

// savedDateKey parses SAVEDBEFORE, SAVEDON and SAVEDSINCE (RFC 8514 §4).
func (s *session) savedDateKey(name string) (*searchKey, error) {
	if err := s.p.SP(); err != nil {
		return nil, err
	}
	d, err := s.p.Date()
	if err != nil {
		return nil, err
	}
	op := map[string]keyOp{"SAVEDBEFORE": opSavedBefore, "SAVEDON": opSavedOn, "SAVEDSINCE": opSavedSince}[name]
	return &searchKey{op: op, date: d}, nil
}

// saveDate is the date SAVEDBEFORE and friends compare: the save date,
// or the internal date where the store does not know it (messages stored
// before it kept save dates), as RFC 8514 §4 has it.
func saveDate(m *store.Message) time.Time {
	if m.SaveDate.IsZero() {
		return m.InternalDate
	}
	return m.SaveDate
}

// writeSaveDate writes a FETCH SAVEDATE value: the date-time, or NIL
// when the store does not know it.
func (s *session) writeSaveDate(m *store.Message) {
	if m.SaveDate.IsZero() {
		s.w.Raw("NIL")
		return
	}
	s.w.Byte('"')
	s.w.Raw(m.SaveDate.Format("_2-Jan-2006 15:04:05 -0700"))
	s.w.Byte('"')
}

// threadIDs returns the THREADID of each message (listed with their
// summaries), parsing those whose cached summary is missing or stale and
// caching the result; "" for a message expunged meanwhile.
func (s *session) threadIDs(msgs []store.Message) ([]string, error) {
	sums, cache, err := s.batchSummaries(msgs, false, summaryEnvelope)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(msgs))
	for i := range msgs {
		sum := sums[i]
		if sum == nil {
			m := msgs[i]
			body := &bodySource{s: s, m: &m}
			var upd *store.SummaryUpdate
			sum, upd, err = s.summary(&m, body)
			body.close()
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return nil, err
			}
			if upd != nil {
				cache = append(cache, *upd)
			}
		}
		ids[i] = threadObjectID(sum.Envelope, msgs[i].EmailID)
	}
	if err := s.srv.Store.SetSummaries(s.ctx, cache); err != nil {
		s.log.Warn("imap: caching summaries", "err", err) // only a cache
	}
	return ids, nil
}
