package maildir

import (
	"bufio"
	"cmp"
	"io"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
)

// CourierPOP3List is a parsed courierpop3dsizelist: the POP3 UIDLs
// Courier's pop3d gave the messages of a Maildir. Courier (0.43 and later)
// shows "UID<n>-<uidvalidity>" (or "UID<n>" with a zero UIDVALIDITY), from
// this file, independent of the IMAP UIDs of courierimapuiddb; a message
// the file does not list gets the next number, in the order of its file
// name, at the next POP3 login.
type CourierPOP3List struct {
	Version     int // 2 or 3
	UIDValidity uint64
	NextUID     uint64
	Entries     map[string]string // base file name -> UIDL
	// Skipped are the lines Courier would skip too (it ignores a line it
	// cannot read).
	Skipped []*migrate.ParseError
}

// ParseCourierPOP3List reads a courierpop3dsizelist of version 2 or 3:
// "/V NEXTUID UIDVALIDITY", then "FILENAME SIZE UID:UIDVALIDITY[:UTF8]"
// per message. A file of another version (Courier before 0.43 kept file
// names, which today's Courier ignores, giving new UIDLs) is an error: the
// UIDLs it holds are not the ones Courier shows.
func ParseCourierPOP3List(r io.Reader, file string) (*CourierPOP3List, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	if !sc.Scan() {
		if err := scanErr(sc, file, 0); err != nil {
			return nil, err
		}
		return nil, migrate.Errorf(file, 0, "empty file")
	}
	hdr := sc.Text()
	head := strings.Fields(strings.TrimPrefix(hdr, "/"))
	if !strings.HasPrefix(hdr, "/") || len(head) < 2 {
		return nil, migrate.Errorf(file, 1, "not a courierpop3dsizelist of version 2 or 3 (Courier 0.43 and later): %q", hdr)
	}
	l := &CourierPOP3List{Entries: map[string]string{}}
	var err error
	if l.Version, err = strconv.Atoi(head[0]); err != nil || (l.Version != 2 && l.Version != 3) {
		return nil, migrate.Errorf(file, 1, "courierpop3dsizelist version %q, want 2 or 3", head[0])
	}
	if l.NextUID, err = strconv.ParseUint(head[1], 10, 64); err != nil {
		return nil, migrate.Errorf(file, 1, "next UID %q is not a number", head[1])
	}
	if len(head) > 2 {
		if l.UIDValidity, err = strconv.ParseUint(head[2], 10, 64); err != nil {
			return nil, migrate.Errorf(file, 1, "UIDVALIDITY %q is not a number", head[2])
		}
	}
	for n := 2; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		name, uid, uidv, ok := courierPOP3Line(line)
		if !ok {
			l.Skipped = append(l.Skipped, migrate.Errorf(file, n, "%q is not FILENAME SIZE UID:UIDVALIDITY, skipped (as Courier skips it)", line))
			continue
		}
		base := ParseName(name).Base
		if base == "" {
			l.Skipped = append(l.Skipped, migrate.Errorf(file, n, "%q names no file, skipped", line))
			continue
		}
		uidl := "UID" + strconv.FormatUint(uid, 10)
		if uidv != 0 {
			uidl += "-" + strconv.FormatUint(uidv, 10)
		}
		l.Entries[base] = uidl
	}
	if err := scanErr(sc, file, 0); err != nil {
		return nil, err
	}
	return l, nil
}

// courierPOP3Line splits "FILENAME SIZE UID:UIDVALIDITY[:UTF8]" as
// Courier's pop3d does: the last two space-separated fields, the file name
// before them.
func courierPOP3Line(line string) (name string, uid, uidv uint64, ok bool) {
	rest, last, ok1 := cutLast(line, " ")
	name, size, ok2 := cutLast(rest, " ")
	parts := strings.Split(last, ":")
	if !ok1 || !ok2 || name == "" || len(parts) < 2 || len(parts) > 3 {
		return "", 0, 0, false
	}
	_, err1 := strconv.ParseUint(size, 10, 64)
	uid, err2 := strconv.ParseUint(parts[0], 10, 64)
	uidv, err3 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || uid == 0 {
		return "", 0, 0, false
	}
	return name, uid, uidv, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// courierOrder is the order in which Courier's pop3d numbers messages
// (cmpmsgs): by the number the file name starts with, then by the name
// (the base, before the ':' of the info).
func courierOrder(a, b string) int {
	return cmp.Or(cmp.Compare(leadingNumber(a), leadingNumber(b)), strings.Compare(a, b))
}

// leadingNumber is C's atol of s (0 when s does not start with digits).
func leadingNumber(s string) int64 {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.ParseInt(s[:i], 10, 64)
	return n
}
