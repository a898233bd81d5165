// Package maildir reads Maildir and Maildir++ trees the way Dovecot and
// Courier left them: dovecot-uidlist (versions 1 and 3), dovecot-keywords,
// courierimapuiddb, courierpop3dsizelist, courierimapkeywords/,
// courierimapsubscribed, the ":2," info flags, and plain Maildirs with
// none of these. It only reads; what to do with a Folder is the importer's business.
package maildir

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
)

// maxLine bounds one line of dovecot-uidlist, courierimapuiddb and
// dovecot-keywords.
const maxLine = 64 << 10

// UIDList is a parsed dovecot-uidlist or courierimapuiddb.
type UIDList struct {
	Version     int // 1 (also Courier's format) or 3
	UIDValidity uint32
	// UIDNext is the next UID to assign: the header's value, or one more than
	// the highest UID listed if lines were appended after the header was
	// written (Dovecot appends without rewriting it).
	UIDNext uint32
	GUID    string            // the mailbox GUID (version 3 "G"), "" if none
	Entries map[string]*Entry // by base file name (the part before ':')
}

// Entry is one message of a UIDList.
type Entry struct {
	UID   uint32
	UIDL  string // POP3 UIDL ("P" field), "" if not recorded
	VSize int64  // size with CRLF line ends ("W" field), -1 if not recorded
	Line  int
}

// ParseUIDList reads a dovecot-uidlist (version 1 or 3) or a Courier
// courierimapuiddb (version 1). UIDs must ascend, as Dovecot requires;
// anything else fails with a *migrate.ParseError naming file and line.
func ParseUIDList(r io.Reader, file string) (*UIDList, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		line++
		return strings.TrimSuffix(sc.Text(), "\r"), true
	}
	hdr, ok := next()
	if !ok {
		if err := scanErr(sc, file, line); err != nil {
			return nil, err
		}
		return nil, migrate.Errorf(file, 0, "empty file")
	}
	l := &UIDList{Entries: map[string]*Entry{}}
	if err := l.parseHeader(hdr); err != nil {
		return nil, migrate.Errorf(file, 1, "%v", err)
	}
	var last uint32
	for {
		s, ok := next()
		if !ok {
			break
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		e, name, err := l.parseEntry(s)
		if err != nil {
			return nil, migrate.Errorf(file, line, "%v", err)
		}
		if e.UID == math.MaxUint32 {
			return nil, migrate.Errorf(file, line, "UID %d leaves no next UID", e.UID)
		}
		if e.UID <= last {
			return nil, migrate.Errorf(file, line, "UID %d does not ascend (after %d)", e.UID, last)
		}
		if _, dup := l.Entries[name]; dup {
			return nil, migrate.Errorf(file, line, "file %q listed twice", name)
		}
		last, e.Line = e.UID, line
		l.Entries[name] = e
	}
	if err := scanErr(sc, file, line); err != nil {
		return nil, err
	}
	if last >= l.UIDNext {
		l.UIDNext = last + 1
	}
	return l, nil
}

func scanErr(sc *bufio.Scanner, file string, line int) error {
	err := sc.Err()
	if errors.Is(err, bufio.ErrTooLong) {
		return migrate.Errorf(file, line+1, "line longer than %d bytes", maxLine)
	}
	return err
}

func (l *UIDList) parseHeader(s string) error {
	f := strings.Fields(s)
	if len(f) == 0 {
		return errors.New("empty header")
	}
	switch f[0] {
	case "1":
		l.Version = 1
		if len(f) != 3 {
			return errors.New(`version 1 header is "1 <uidvalidity> <nextuid>"`)
		}
		uv, err1 := parseUID(f[1])
		un, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil {
			return errors.New("UIDVALIDITY and next UID must be numbers")
		}
		l.UIDValidity, l.UIDNext = uv, uint32(un)
	case "3":
		l.Version = 3
		for _, kv := range f[1:] {
			if kv == "" {
				continue
			}
			switch kv[0] {
			case 'V':
				uv, err := parseUID(kv[1:])
				if err != nil {
					return errors.New("V (UIDVALIDITY) must be a nonzero number")
				}
				l.UIDValidity = uv
			case 'N':
				un, err := strconv.ParseUint(kv[1:], 10, 32)
				if err != nil {
					return errors.New("N (next UID) must be a number")
				}
				l.UIDNext = uint32(un)
			case 'G':
				l.GUID = kv[1:]
			}
		}
		if l.UIDValidity == 0 {
			return errors.New("no V (UIDVALIDITY) in header")
		}
	default:
		return errors.New("unsupported version " + strconv.Quote(f[0]) + " (1 and 3 are read)")
	}
	return nil
}

// parseEntry reads "<uid> <filename>" (version 1) or
// "<uid> [<key><value> ...] :<filename>" (version 3).
func (l *UIDList) parseEntry(s string) (*Entry, string, error) {
	uidText, rest, _ := strings.Cut(s, " ")
	uid, err := parseUID(uidText)
	if err != nil {
		return nil, "", errors.New("entry does not start with a UID")
	}
	e := &Entry{UID: uid, VSize: -1}
	var name string
	baseUIDL := false
	if l.Version == 1 {
		name = strings.TrimSpace(rest)
	} else {
		fields, fn, found := strings.Cut(" "+rest, " :")
		if !found {
			return nil, "", errors.New(`no " :" before the file name`)
		}
		name = fn
		for _, kv := range strings.Fields(fields) {
			switch kv[0] {
			case 'P':
				// A bare "P" is Dovecot's shorthand for "the UIDL is the
				// base file name" (what it saves when pop3_uidl_format is
				// %f or %g); its pop3 then shows that name.
				e.UIDL, baseUIDL = kv[1:], kv == "P"
			case 'W':
				if v, err := strconv.ParseInt(kv[1:], 10, 64); err == nil && v >= 0 {
					e.VSize = v
				}
			}
		}
	}
	name, _, _ = strings.Cut(name, ":")
	if name == "" || strings.Contains(name, "/") {
		return nil, "", errors.New("no valid file name")
	}
	if baseUIDL {
		e.UIDL = name
	}
	return e, name, nil
}

func parseUID(s string) (uint32, error) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err == nil && v == 0 {
		err = errors.New("zero")
	}
	return uint32(v), err
}

// ParseKeywords reads dovecot-keywords: lines "<index> <keyword>", index 0
// for the letter 'a' in file names up to 25 for 'z'.
func ParseKeywords(r io.Reader, file string) ([26]string, error) {
	var kw [26]string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" {
			continue
		}
		idx, name, _ := strings.Cut(s, " ")
		i, err := strconv.Atoi(idx)
		name = strings.TrimSpace(name)
		if err != nil || i < 0 || i > 25 || name == "" || strings.ContainsAny(name, " \t") {
			return kw, migrate.Errorf(file, line, `want "<0-25> <keyword>", got %q`, s)
		}
		kw[i] = name
	}
	return kw, scanErr(sc, file, line)
}
