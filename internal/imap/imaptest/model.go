package imaptest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// view is one session's model of its selected mailbox, built only from
// what the server announced: sequence numbers, UIDs (0 = announced by
// EXISTS, UID not seen yet), flags, and the keywords FLAGS declared.
type view struct {
	mailbox  string
	uids     []uint32
	flags    map[uint32][]string // by UID
	keywords map[string]bool     // lower-cased, from the last FLAGS response
	flagsSet bool                // a FLAGS response was seen since SELECT
	rev2     bool                // the session ENABLEd IMAP4rev2
	// condstore: the session ENABLEd CONDSTORE (RFC 7162); modseqs are
	// the MODSEQ values seen, by UID.
	condstore bool
	modseqs   map[uint32]uint64
}

func newView(mailbox string) *view {
	return &view{mailbox: mailbox, flags: map[uint32][]string{}, keywords: map[string]bool{}, modseqs: map[uint32]uint64{}}
}

// cmdKind says what the command being answered allows (RFC 9051 §7.5.1).
type cmdKind struct {
	name string // upper-case command name: FETCH, STORE, SEARCH, UID FETCH, ...
}

// noExpunge: EXPUNGE must not be sent while answering FETCH, STORE or
// SEARCH (only the UID forms allow it), RFC 9051 §7.5.1.
func (k cmdKind) noExpunge() bool {
	switch k.name {
	case "FETCH", "STORE", "SEARCH":
		return true
	}
	return false
}

// apply updates the view with one untagged response and returns the
// contradictions it found.
func (v *view) apply(k cmdKind, r *Response, reg *registry) []string {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...)+" (response: "+strconv.Quote(trunc(strings.TrimRight(r.Raw, "\r\n")))+")")
	}
	switch r.Name {
	case "EXISTS":
		n := int(r.Num)
		if n < len(v.uids) {
			bad("EXISTS %d is below the %d messages the session knows, with no EXPUNGE (RFC 9051 §7.4.1: only EXPUNGE reduces it)", n, len(v.uids))
			v.uids = v.uids[:n]
			break
		}
		for len(v.uids) < n {
			v.uids = append(v.uids, 0)
		}
	case "EXPUNGE":
		if k.noExpunge() {
			bad("EXPUNGE sent while answering %s (RFC 9051 §7.5.1)", k.name)
		}
		n := int(r.Num)
		if n < 1 || n > len(v.uids) {
			bad("EXPUNGE %d but the session has %d messages", n, len(v.uids))
			break
		}
		delete(v.flags, v.uids[n-1])
		v.uids = slices.Delete(v.uids, n-1, n)
	case "RECENT":
		if v.rev2 {
			bad("RECENT response in an IMAP4rev2 session (RFC 9051 removed it, Appendix E)")
		}
	case "FLAGS":
		if len(r.Args) != 1 || r.Args[0].Kind != List {
			bad("malformed FLAGS response")
			break
		}
		v.flagsSet = true
		v.keywords = map[string]bool{}
		for _, f := range r.Args[0].L {
			v.keywords[strings.ToLower(f.S)] = true
		}
	case "FETCH":
		errs = append(errs, v.fetch(k, r, reg)...)
	case "SEARCH":
		if k.name == "SEARCH" {
			for _, a := range r.Args {
				if n, ok := a.Number(); !ok || n < 1 || int(n) > len(v.uids) {
					bad("SEARCH result %s is not a sequence number of the %d messages", a.S, len(v.uids))
				}
			}
		}
	case "ESEARCH":
		// RFC 9051 §7.3.4: for a SEARCH without UID, ALL/MIN/MAX are
		// sequence numbers of this session's messages.
		if k.name != "SEARCH" || slices.ContainsFunc(r.Args, func(a Value) bool { return a.IsAtom("UID") }) {
			break
		}
		for i := 0; i+1 < len(r.Args); i++ {
			key := strings.ToUpper(r.Args[i].S)
			if key != "ALL" && key != "MIN" && key != "MAX" {
				continue
			}
			for _, part := range strings.Split(r.Args[i+1].S, ",") {
				for _, num := range strings.Split(part, ":") {
					if n, err := strconv.Atoi(num); err != nil || n < 1 || n > len(v.uids) {
						bad("ESEARCH %s %s is not a sequence number of the %d messages", key, num, len(v.uids))
					}
				}
			}
		}
	case "BYE":
		if k.name != "LOGOUT" {
			bad("unexpected BYE")
		}
	}
	return errs
}

func (v *view) fetch(k cmdKind, r *Response, reg *registry) []string {
	var errs []string
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Sprintf(format, args...)+" (response: "+strconv.Quote(trunc(strings.TrimRight(r.Raw, "\r\n")))+")")
	}
	n := int(r.Num)
	if n < 1 || n > len(v.uids) {
		bad("FETCH for message %d but the session has %d (EXISTS not sent, or a number beyond it)", n, len(v.uids))
		return errs
	}
	items, err := r.FetchItems()
	if err != nil {
		bad("%v", err)
		return errs
	}
	uid := v.uids[n-1]
	var size int64 = -1
	var body *Value
	hasFlags, hasModSeq := false, false
	for i, it := range items {
		switch {
		case it.Name == "MODSEQ":
			hasModSeq = true
			var m uint64
			if it.Value.Kind == List && len(it.Value.L) == 1 {
				m, err = strconv.ParseUint(it.Value.L[0].S, 10, 63)
			}
			if it.Value.Kind != List || len(it.Value.L) != 1 || err != nil || m == 0 {
				bad("MODSEQ %s is not a parenthesised positive number (RFC 7162 §7)", it.Value.String())
				continue
			}
			if uid == 0 {
				continue
			}
			if prev := v.modseqs[uid]; m < prev {
				bad("MODSEQ of UID %d went down from %d to %d (RFC 7162 §3.1)", uid, prev, m)
			}
			v.modseqs[uid] = m
		case it.Name == "UID":
			u, ok := it.Value.Number()
			if !ok || u == 0 {
				bad("UID %s is not a non-zero number", it.Value.S)
				continue
			}
			if uid != 0 && uid != u {
				bad("message %d has UID %d, the server now says %d", n, uid, u)
				continue
			}
			if uid == 0 {
				// UIDs ascend with sequence numbers (RFC 9051 §2.3.1.1).
				for j := n - 2; j >= 0; j-- {
					if v.uids[j] != 0 {
						if v.uids[j] >= u {
							bad("UID %d of message %d is not above UID %d of message %d", u, n, v.uids[j], j+1)
						}
						break
					}
				}
				for j := n; j < len(v.uids); j++ {
					if v.uids[j] != 0 {
						if v.uids[j] <= u {
							bad("UID %d of message %d is not below UID %d of message %d", u, n, v.uids[j], j+1)
						}
						break
					}
				}
				v.uids[n-1], uid = u, u
			}
		case it.Name == "FLAGS":
			hasFlags = true
			if it.Value.Kind != List {
				bad("FLAGS is not a list")
				continue
			}
			var fl []string
			for _, f := range it.Value.L {
				fl = append(fl, f.S)
				if v.rev2 && strings.EqualFold(f.S, `\Recent`) {
					bad("\\Recent in an IMAP4rev2 session (RFC 9051 removed it, Appendix E)")
				}
				if !strings.HasPrefix(f.S, `\`) && !v.keywords[strings.ToLower(f.S)] {
					bad("keyword %s in FETCH before any FLAGS response listed it (RFC 9051 §7.3.5, §2.3.2)", f.S)
				}
			}
			if uid != 0 {
				v.flags[uid] = fl
			}
		case it.Name == "RFC822.SIZE":
			s, ok := it.Value.Number()
			if !ok {
				bad("RFC822.SIZE %q is not a number", it.Value.S)
			}
			size = int64(s)
		case it.Name == "BODY[]" || it.Name == "RFC822" || it.Name == "BINARY[]":
			body = &items[i].Value
		}
	}
	if v.condstore && hasFlags && !hasModSeq && !strings.HasSuffix(k.name, "FETCH") {
		// A FETCH command's own answers need not carry MODSEQ (RFC 7162
		// §3.2.4); every other FETCH response must.
		bad("FETCH FLAGS without MODSEQ in a CONDSTORE session (RFC 7162 §3.1)")
	}
	if body != nil && body.Kind == Nil {
		// RFC 2180 §4.1.2: a message another session expunged may be
		// fetched as NIL (never as an empty or padded literal).
		return errs
	}
	if body != nil {
		if body.Kind != String {
			bad("BODY[] is not a string")
			return errs
		}
		if size >= 0 && int64(len(body.S)) != size {
			bad("BODY[] literal has %d bytes, RFC822.SIZE says %d", len(body.S), size)
		}
		if id, ok := stressID(body.S); ok && reg.isCut(id) {
			bad("BODY[] of message %d is message %s, whose APPEND was cut short by a closed connection: it must not have been stored", n, id)
		} else if want, ok := reg.lookup(body.S); !ok {
			bad("BODY[] of message %d (%d bytes) is no message this test stored: %q", n, len(body.S), trunc(body.S))
		} else if want != body.S {
			bad("BODY[] of message %d differs from the message stored (%d bytes, stored %d)", n, len(body.S), len(want))
		}
	}
	return errs
}

// registry holds every message the stress test stored, by its
// X-Stress-Id header, so any BODY[] can be checked byte for byte.
type registry struct {
	mu   sync.Mutex
	msgs map[string]string
	cut  map[string]bool // APPENDs whose literal was cut short: never stored
}

func newRegistry() *registry { return &registry{msgs: map[string]string{}, cut: map[string]bool{}} }

func (r *registry) markCut(id string) {
	r.mu.Lock()
	r.cut[id] = true
	r.mu.Unlock()
}

func (r *registry) isCut(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cut[id]
}

// stressID returns the X-Stress-Id of a message or of its header.
func stressID(body string) (string, bool) {
	const prefix = "X-Stress-Id: "
	if !strings.HasPrefix(body, prefix) {
		return "", false
	}
	id, _, ok := strings.Cut(body[len(prefix):], "\r\n")
	return id, ok
}

func (r *registry) add(id, msg string) {
	r.mu.Lock()
	r.msgs[id] = msg
	r.mu.Unlock()
}

func (r *registry) lookup(body string) (string, bool) {
	id, ok := stressID(body)
	if !ok {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.msgs[id]
	return m, ok
}
