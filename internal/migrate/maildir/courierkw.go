package maildir

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
)

// Courier-IMAP keeps IMAP keywords out of the file names, in the folder's
// courierimapkeywords/ directory (Courier's README.imapkeywords):
//
//   - ":list" holds the keywords Courier last consolidated: the keyword
//     names, one per line, an empty line, then "<base>:<i> <j> ..." per
//     message that has keywords, the numbers indexing the names (from 0).
//   - An update file "<base>" (the newest) or ".<N>.<base>" (older; the
//     highest N is the latest) replaces the message's keywords with the
//     names it holds, one per line; an empty file removes them.
//
// A reader applies the updates over :list. Courier itself skips what it
// cannot read (a line without ':', a message no longer in the folder), and
// so does ReadCourierKeywords, reporting it. Hostile input is bounded: a
// line is at most maxLine bytes, a folder has at most
// maxCourierKeywords keyword names, a keyword at most maxKeywordLen
// bytes, an update file at most maxCourierUpdate bytes, and each file
// reports at most maxCourierWarnings problems (then how many more).
const (
	courierKeywordDir  = "courierimapkeywords"
	maxCourierKeywords = 1000
	maxKeywordLen      = 255
	maxCourierUpdate   = 1 << 20
	maxCourierWarnings = 20
)

// CourierKeywords is what a folder's courierimapkeywords/ says.
type CourierKeywords struct {
	// Keywords are each message's keywords, by base file name (the part
	// before ":2,"): valid IMAP keywords, without duplicates (compared
	// case-insensitively, as IMAP does), in the order the file gave
	// them. Messages without keywords are absent.
	Keywords map[string][]string
	// Skipped are what was not taken, with the reason.
	Skipped []*migrate.ParseError
}

// ReadCourierKeywords reads the courierimapkeywords/ directory of the
// Maildir folder dir as Courier-IMAP does, for the messages has reports
// present (nil: every message named). ok is false when there is no such
// directory. Only failing I/O is an error; anything malformed is skipped
// and reported.
func ReadCourierKeywords(dir string, has func(base string) bool) (kw *CourierKeywords, ok bool, err error) {
	kwDir := filepath.Join(dir, courierKeywordDir)
	ents, err := os.ReadDir(kwDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	kw, found, err := parseFile(filepath.Join(kwDir, ":list"), func(r io.Reader, file string) (*CourierKeywords, error) {
		return ParseCourierKeywordList(r, file, has)
	})
	if err != nil {
		return nil, false, err
	}
	if !found {
		kw = &CourierKeywords{Keywords: map[string][]string{}}
	}
	// The update that counts per message: the plain "<base>" file, else
	// the ".<N>.<base>" with the highest N.
	type update struct {
		name  string
		n     uint64
		plain bool
	}
	latest := map[string]update{}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || name == "" || name[0] == ':' {
			continue
		}
		u := update{name: name, plain: name[0] != '.'}
		base := name
		if !u.plain {
			// ".<N>.<base>"; anything else (Courier's ".tmp." scratch
			// files) is not an update.
			num, rest, found := strings.Cut(name[1:], ".")
			n, err := strconv.ParseUint(num, 10, 64)
			if !found || err != nil || n == 0 {
				continue
			}
			u.n, base = n, rest
		}
		base, _, _ = strings.Cut(base, ":")
		if base == "" || (has != nil && !has(base)) {
			continue // Courier removes such files once they are old
		}
		if old, seen := latest[base]; seen && (old.plain || (!u.plain && old.n >= u.n)) {
			continue
		}
		latest[base] = u
	}
	for base, u := range latest {
		words, skipped, err := readCourierUpdate(filepath.Join(kwDir, u.name))
		if errors.Is(err, fs.ErrNotExist) {
			// Courier renamed it while we read: a copy taken with Courier
			// running. What :list says is kept.
			kw.Skipped = append(kw.Skipped, migrate.Errorf(filepath.Join(kwDir, u.name), 0, "update file vanished while read, keywords from :list kept"))
			continue
		}
		if err != nil {
			return nil, false, err
		}
		kw.Skipped = append(kw.Skipped, skipped...)
		if len(words) == 0 {
			delete(kw.Keywords, base)
		} else {
			kw.Keywords[base] = words
		}
	}
	return kw, true, nil
}

func readCourierUpdate(path string) ([]string, []*migrate.ParseError, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	return ParseCourierKeywordUpdate(fh, path)
}

// ParseCourierKeywordList reads a courierimapkeywords/:list for the
// messages has reports present (nil: every message named). The error is
// r's only: what Courier would skip is skipped and reported.
func ParseCourierKeywordList(r io.Reader, file string, has func(base string) bool) (*CourierKeywords, error) {
	kw := &CourierKeywords{Keywords: map[string][]string{}}
	w := warner{file: file}
	lr := newLineReader(r)
	// The names, up to an empty line. canon[i] is the first index of the
	// same keyword (names compare case-insensitively), -1 for a name
	// that is not taken; indices past the list are ignored as Courier
	// ignores them.
	var names []string
	var canon []int
	tooMany := false
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			kw.Skipped = w.done()
			return kw, nil
		}
		if err != nil {
			return nil, err
		}
		if line == "" && !long {
			break
		}
		if len(names) == maxCourierKeywords {
			if !tooMany {
				w.add(lr.n, "more than %d keyword names, the rest ignored", maxCourierKeywords)
			}
			tooMany = true
			continue
		}
		c := -1
		if long || !validKeyword(line) {
			w.add(lr.n, "%s is not an IMAP keyword, ignored", describeLine(line, long))
		} else {
			c = slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, line) })
			if c < 0 {
				c = len(names)
			}
		}
		names, canon = append(names, line), append(canon, c)
	}
	var idx []int
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
		base, list, found := strings.Cut(line, ":")
		if !found || base == "" {
			w.add(lr.n, "%q is not <file>:<keyword numbers>, skipped", line)
			continue
		}
		if has != nil && !has(base) {
			continue // a message no longer in the folder
		}
		idx = idx[:0]
		bad := ""
		for _, f := range strings.Split(list, " ") {
			if f == "" {
				continue
			}
			i, err := strconv.ParseUint(f, 10, 32)
			switch {
			case err != nil:
				bad = f
			case i < uint64(len(names)) && canon[i] >= 0:
				idx = append(idx, canon[i])
			}
		}
		if bad != "" {
			w.add(lr.n, "keyword number %q is not a number, ignored", bad)
		}
		slices.Sort(idx)
		idx = slices.Compact(idx)
		if len(idx) == 0 {
			delete(kw.Keywords, base) // a later line replaces an earlier, as in Courier
			continue
		}
		words := make([]string, len(idx))
		for k, i := range idx {
			words[k] = names[i]
		}
		kw.Keywords[base] = words
	}
	kw.Skipped = w.done()
	return kw, nil
}

// ParseCourierKeywordUpdate reads an update file of courierimapkeywords/:
// one keyword per line, up to an empty line or the end. Only
// maxCourierUpdate bytes are read; names that are not IMAP keywords are
// skipped and reported. The error is r's only.
func ParseCourierKeywordUpdate(r io.Reader, file string) ([]string, []*migrate.ParseError, error) {
	w := warner{file: file}
	lr := newLineReader(io.LimitReader(r, maxCourierUpdate+1))
	var words []string
	seen := map[string]bool{}
	for {
		line, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if lr.read > maxCourierUpdate {
			w.add(lr.n, "file longer than %d bytes, the rest ignored", maxCourierUpdate)
			break
		}
		if line == "" && !long {
			break
		}
		if long || !validKeyword(line) {
			w.add(lr.n, "%s is not an IMAP keyword, ignored", describeLine(line, long))
			continue
		}
		if k := strings.ToLower(line); !seen[k] {
			if len(words) == maxCourierKeywords {
				w.add(lr.n, "more than %d keywords, the rest ignored", maxCourierKeywords)
				break
			}
			seen[k] = true
			words = append(words, line)
		}
	}
	return words, w.done(), nil
}

// validKeyword reports whether k can be an IMAP keyword (RFC 9051
// flag-keyword: an atom, not a system flag) of at most maxKeywordLen
// bytes: Pochta shows keywords to clients as they are stored.
func validKeyword(k string) bool {
	if k == "" || len(k) > maxKeywordLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`(){%*"\]`, c) >= 0 {
			return false
		}
	}
	return true
}

// describeLine quotes a line for a report, shortened.
func describeLine(line string, long bool) string {
	if long {
		return "a line longer than " + strconv.Itoa(maxLine) + " bytes"
	}
	if len(line) > 80 {
		line = line[:80] + "..."
	}
	return strconv.Quote(line)
}

// lineReader reads lines of at most maxLine bytes without buffering a
// longer one: that comes back as long, its text cut.
type lineReader struct {
	r    *bufio.Reader
	n    int   // lines read
	read int64 // bytes read
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, maxLine)}
}

// next returns the next line without its "\n"; io.EOF after the last.
func (l *lineReader) next() (line string, long bool, err error) {
	b, err := l.r.ReadSlice('\n')
	l.read += int64(len(b))
	if errors.Is(err, bufio.ErrBufferFull) {
		long = true
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = l.r.ReadSlice('\n')
			l.read += int64(len(b))
		}
	} else {
		line = string(bytes.TrimSuffix(b, []byte("\n")))
	}
	if err == io.EOF && (len(b) > 0 || long) {
		err = nil // the last line has no "\n"
	}
	if err != nil {
		return "", false, err
	}
	l.n++
	return line, long, nil
}

// warner collects a file's problems, at most maxCourierWarnings of them.
type warner struct {
	file  string
	list  []*migrate.ParseError
	extra int
}

func (w *warner) add(line int, format string, args ...any) {
	if len(w.list) < maxCourierWarnings {
		w.list = append(w.list, migrate.Errorf(w.file, line, format, args...))
	} else {
		w.extra++
	}
}

func (w *warner) done() []*migrate.ParseError {
	if w.extra > 0 {
		w.list = append(w.list, migrate.Errorf(w.file, 0, "%d more problems not listed", w.extra))
	}
	return w.list
}
