package imap

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// writeCaps writes the capability list for this connection and state
// (without "* CAPABILITY").
func (s *session) writeCaps() { s.w.Raw(s.capsString()) }

// capsString is the capability list for this connection and state: only
// what works is listed.
func (s *session) capsString() string {
	var w strings.Builder
	w.WriteString("IMAP4rev1 IMAP4rev2")
	if s.state == stateNotAuthenticated {
		if s.srv.TLSConfig != nil && !s.isTLS {
			w.WriteString(" STARTTLS")
		}
		plain := s.plaintextOK()
		if !plain {
			w.WriteString(" LOGINDISABLED")
		}
		for _, m := range s.srv.Auth.Mechanisms(plain) {
			w.WriteString(" AUTH=")
			w.WriteString(m)
		}
		// LITERAL-, not LITERAL+: before login a non-synchronising
		// literal is bounded (8 KiB, docs/IMAP.md), and RFC 7888 §4's
		// 4096 octets fit in that.
		w.WriteString(" SASL-IR LITERAL- ID ENABLE IDLE")
		if s.compressAllowed() {
			w.WriteString(" COMPRESS=DEFLATE")
		}
		return w.String()
	}
	w.WriteString(" SASL-IR LITERAL+ ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE ESEARCH SEARCHRES" +
		" CONDSTORE QRESYNC SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES PREVIEW WITHIN" +
		" LIST-EXTENDED LIST-STATUS STATUS=SIZE BINARY CHILDREN SPECIAL-USE CREATE-SPECIAL-USE" +
		" UTF8=ACCEPT QUOTA QUOTA=RES-STORAGE APPENDLIMIT=")
	w.WriteString(strconv.FormatInt(s.srv.appendLimit(), 10))
	w.WriteString(" OBJECTID SAVEDATE MULTIAPPEND CATENATE PARTIAL")
	if s.compressAllowed() {
		w.WriteString(" COMPRESS=DEFLATE")
	}
	return w.String()
}

// cmdCapability: CAPABILITY (RFC 9051 §6.1.1).
func (s *session) cmdCapability(string, bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	s.w.Raw("* CAPABILITY ")
	s.writeCaps()
	s.w.CRLF()
	return nil
}

// cmdNoop: NOOP (§6.1.2); the dispatcher's poll reports changes.
func (s *session) cmdNoop(string, bool) error { return s.p.End() }

// cmdCheck: CHECK (RFC 3501 §6.4.1): every change is already durable.
func (s *session) cmdCheck(string, bool) error { return s.p.End() }

// cmdLogout: LOGOUT (§6.1.3).
func (s *session) cmdLogout(string, bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	s.w.Raw("* BYE Logging out\r\n")
	s.state = stateLogout
	s.endReason = "logout"
	return nil
}

// RFC 2971 §3.3 maxima: 30 field-value pairs, fields up to 30 octets and
// values up to 1024.
const (
	maxIDPairs = 30
	maxIDField = 30
	maxIDValue = 1024
)

// cmdID: ID (RFC 2971), in any state.
func (s *session) cmdID(string, bool) error {
	if err := s.p.SP(); err != nil {
		return err
	}
	var fields []string
	if !s.p.AcceptFold("NIL") {
		err := s.parenList(func() error {
			if len(fields) >= 2*maxIDPairs {
				return bad("Too many ID fields")
			}
			k, err := s.p.String()
			if err != nil {
				return err
			}
			if err := s.p.SP(); err != nil {
				return err
			}
			v, isNil, err := s.p.NString()
			if err != nil {
				return err
			}
			if len(k) > maxIDField || len(v) > maxIDValue {
				return bad("ID field or value too long")
			}
			if isNil {
				v = "NIL"
			}
			fields = append(fields, k, v)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := s.p.End(); err != nil {
		return err
	}
	if len(fields) > 0 {
		s.log.Info("imap: client ID", "id", fields)
	}
	s.w.Raw(`* ID ("name" "Pochta" "version" `)
	s.w.String(s.srv.version())
	s.w.Raw(")\r\n")
	return nil
}

// cmdEnable: ENABLE (RFC 5161). IMAP4rev2, UTF8=ACCEPT, CONDSTORE and
// QRESYNC (RFC 7162 §3.2.3; QRESYNC implies CONDSTORE) can be enabled.
// ENABLED lists what was not enabled before the command.
func (s *session) cmdEnable(string, bool) error {
	var names []string
	for !s.p.AtEnd() {
		if err := s.p.SP(); err != nil {
			return err
		}
		n, err := s.p.Atom()
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	if err := s.p.End(); err != nil {
		return err
	}
	if len(names) == 0 {
		return bad("ENABLE needs at least one capability")
	}
	var enabled []string
	condstore, qresync := s.condstore, s.qresync
	for _, n := range names {
		switch strings.ToUpper(n) {
		case "IMAP4REV2":
			if !s.rev2 {
				s.rev2 = true
				enabled = append(enabled, "IMAP4rev2")
			}
		case "CONDSTORE":
			if !condstore && !slices.Contains(enabled, "CONDSTORE") {
				s.enableCondstore()
				enabled = append(enabled, "CONDSTORE")
			}
		case "QRESYNC":
			if !qresync && !slices.Contains(enabled, "QRESYNC") {
				s.enableCondstore()
				s.qresync = true
				enabled = append(enabled, "QRESYNC")
			}
		case "UTF8=ACCEPT":
			if !s.utf8 {
				s.utf8 = true
				s.w.UTF8 = true
				enabled = append(enabled, "UTF8=ACCEPT")
			}
		}
	}
	if s.rev2 {
		s.w.UTF8 = true
	}
	s.w.Raw("* ENABLED")
	for _, e := range enabled {
		s.w.SP()
		s.w.Raw(e)
	}
	s.w.CRLF()
	return nil
}

// cmdNamespace: NAMESPACE (RFC 2342): one personal namespace, "" with "/".
func (s *session) cmdNamespace(string, bool) error {
	if err := s.p.End(); err != nil {
		return err
	}
	s.w.Raw(`* NAMESPACE (("" "` + string(store.Delimiter) + `")) NIL NIL` + "\r\n")
	return nil
}

// The RFC 9208 commands. Every mailbox of an account shares one quota
// root, "" (the account); SETQUOTA is for the administrator.

// cmdGetQuotaRoot: GETQUOTAROOT mailbox.
func (s *session) cmdGetQuotaRoot(string, bool) error {
	name, err := s.mailboxOnlyArg()
	if err != nil {
		return err
	}
	mb, err := s.srv.Store.GetMailbox(s.ctx, s.account.ID, name)
	if err != nil {
		return err
	}
	s.w.Raw("* QUOTAROOT ")
	s.writeMailbox(mb.Name)
	s.w.Raw(" \"\"\r\n")
	return s.writeQuota()
}

// cmdGetQuota: GETQUOTA root.
func (s *session) cmdGetQuota(string, bool) error {
	root, err := s.spAString()
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	if root != "" {
		return no(codeNonExistent, "No such quota root")
	}
	return s.writeQuota()
}

func (s *session) writeQuota() error {
	q, err := s.srv.Store.Quota(s.ctx, s.account.ID)
	if err != nil {
		return err
	}
	// STORAGE is in units of 1024 octets (RFC 9208 §5.1); no limit is an
	// empty resource list.
	if q.Limit > 0 {
		s.w.Raw(`* QUOTA "" (STORAGE ` + strconv.FormatInt((q.Used+1023)/1024, 10) + " " +
			strconv.FormatInt(q.Limit/1024, 10) + ")\r\n")
	} else {
		s.w.Raw("* QUOTA \"\" ()\r\n")
	}
	return nil
}

// cmdSetQuota: SETQUOTA is refused: quotas are set by the administrator.
func (s *session) cmdSetQuota(string, bool) error {
	if _, err := s.spAString(); err != nil {
		return err
	}
	if err := s.p.SP(); err != nil {
		return err
	}
	err := s.parenList(func() error {
		if _, err := s.p.Atom(); err != nil {
			return err
		}
		if err := s.p.SP(); err != nil {
			return err
		}
		_, err := s.p.Number64()
		return err
	})
	if err != nil {
		return err
	}
	if err := s.p.End(); err != nil {
		return err
	}
	return no(codeNoPerm, "Quotas are set by the administrator")
}

func itoa[T ~uint32 | ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }
