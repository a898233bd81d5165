package maildir

import (
	"errors"
	"io"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/store"
)

// ParseCourierSubscriptions reads Courier-IMAP's courierimapsubscribed
// (in the top Maildir): one folder per line, "INBOX" or "INBOX." and the
// folder's Maildir++ name ("INBOX.Lists.foo"), which map to Pochta's
// mailbox names as Folders maps the directories ("Lists/foo"). Names
// outside the Maildir (Courier's shared folders) and names that do not
// map are skipped and reported. At most maxSubscriptions names are
// read. The result is sorted, without duplicates; the error is r's only.
func ParseCourierSubscriptions(r io.Reader, file string) ([]string, []*migrate.ParseError, error) {
	w := warner{file: file}
	names, err := readSubscriptions(newLineReader(r), &w, courierMailboxName)
	if err != nil {
		return nil, nil, err
	}
	return names, w.done(), nil
}

// readSubscriptions reads a subscriptions file, one name per line, each
// mapped by mailbox to Pochta's mailbox name ("" skips the line). Long
// lines and names that do not map are skipped and reported; at most
// maxSubscriptions are read. The result is sorted, without duplicates;
// the error is the reader's only.
func readSubscriptions(lr *lineReader, w *warner, mailbox func(line string) (string, error)) ([]string, error) {
	var names []string
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if long {
			w.add(lr.n, "%s, skipped", describeLine(line, long))
			continue
		}
		if line == "" {
			continue
		}
		name, err := mailbox(line)
		if err != nil {
			w.add(lr.n, "subscription %s: %v, skipped", describeLine(line, false), err)
			continue
		}
		if name == "" {
			continue
		}
		if len(names) == maxSubscriptions {
			w.add(lr.n, "more than %d subscriptions, the rest ignored", maxSubscriptions)
			break
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// maxSubscriptions bounds the names read from a subscriptions file
// (Courier's or Dovecot's).
const maxSubscriptions = 10000

// courierMailboxName maps Courier's name of a folder of the Maildir
// ("INBOX", "INBOX.Sent") to Pochta's.
func courierMailboxName(s string) (string, error) {
	if strings.EqualFold(s, store.InboxName) {
		return store.InboxName, nil
	}
	prefix, rest, found := strings.Cut(s, ".")
	if !found || !strings.EqualFold(prefix, store.InboxName) {
		return "", errors.New("not a folder of this Maildir (a shared folder?)")
	}
	name, err := FolderName("." + rest)
	if err != nil {
		return "", err
	}
	if !store.ValidMailboxName(name) {
		return "", errors.New("not a valid mailbox name")
	}
	return name, nil
}
