package maildir

import (
	"bufio"
	"errors"
	"io"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/store"
)

// Dovecot keeps a user's subscriptions in "subscriptions" at the top of
// the mail directory (lib-storage's subscription-file.c). Dovecot 2.3
// creates it in version 2: the header "V\t2" and an empty line, then one
// mailbox per line, its levels separated by TAB and each level
// tab-escaped (\001 followed by '1', 't', 'r' or 'n' for \001, TAB, CR,
// LF). A file without that exact header is version 1, left by older
// Dovecots and kept in that version by 2.3 when it rewrites it: one name
// per line with the storage's hierarchy separator, '.' in Maildir++.
// Either way the names are storage names: relative to the namespace
// (without its prefix) and, in a Maildir++ without the UTF-8 option, in
// modified UTF-7, as the directory names are.
const dovecotSubscriptionsV2 = "V\t2\n\n"

// ParseDovecotSubscriptions reads Dovecot's subscriptions file (version 2
// or 1, see above) and maps each name to Pochta's mailbox name as Folders
// maps the Maildir++ directories ("Lists\tfoo" and "Lists.foo" are
// "Lists/foo", "Entw&APw-rfe" is "Entwürfe"). Like Dovecot it takes off a
// CR before the line end and one trailing separator. A name that does
// not map (an empty level, bad modified UTF-7, a control character, a
// '/' within a level, which no Maildir++ folder has: a mailbox of another
// namespace, which Dovecot 2.3 drops too: "Removing invalid entry") is
// skipped and reported; so is a line longer than maxLine. Empty lines name no
// mailbox and are skipped silently. At most maxSubscriptions names are
// read and maxCourierWarnings problems reported. The result is sorted,
// without duplicates, in canonical form (INBOX in capitals, also as a
// parent); the error is r's only.
func ParseDovecotSubscriptions(r io.Reader, file string) ([]string, []*migrate.ParseError, error) {
	w := warner{file: file}
	br := bufio.NewReaderSize(r, maxLine)
	v2 := false
	if head, err := br.Peek(len(dovecotSubscriptionsV2)); string(head) == dovecotSubscriptionsV2 {
		v2 = true
		br.Discard(len(head))
	} else if err != nil && err != io.EOF {
		return nil, nil, err
	}
	lr := newLineReader(br) // (reuses br: it is large enough)
	if v2 {
		lr.n = 2
	}
	names, err := readSubscriptions(lr, &w, func(line string) (string, error) {
		if line = strings.TrimSuffix(line, "\r"); line == "" {
			return "", nil
		}
		return dovecotMailboxName(line, v2)
	})
	if err != nil {
		return nil, nil, err
	}
	return names, w.done(), nil
}

// dovecotMailboxName maps one line of a subscriptions file to Pochta's
// mailbox name.
func dovecotMailboxName(line string, v2 bool) (string, error) {
	if v2 {
		if strings.IndexByte(line, '\001') >= 0 {
			return "", errors.New("an escaped control character")
		}
		// Dovecot joins the levels with the storage's separator; in
		// Maildir++ a '.' within a level separates levels too.
		line = strings.ReplaceAll(line, "\t", ".")
	}
	if n := strings.TrimSuffix(line, "."); n != "" {
		line = n // "entry ends with hierarchy separator, remove it"
	}
	if strings.EqualFold(line, store.InboxName) {
		return store.InboxName, nil
	}
	if strings.ContainsRune(line, store.Delimiter) {
		return "", errors.New("a '/' within a level, which no Maildir++ folder has (a mailbox of another namespace?)")
	}
	name, err := FolderName("." + line)
	if err != nil {
		return "", err
	}
	if !store.ValidMailboxName(name) {
		return "", errors.New("not a valid mailbox name")
	}
	return store.CanonicalMailboxName(name), nil
}
