package message

import "strings"

// BaseSubject returns the base subject of a Subject field value as RFC
// 5256 section 2.1 defines it for SORT SUBJECT and THREAD: encoded words
// decoded, white space runs made one space, "Re:", "Fw:", "Fwd:" and
// "[blob]" prefixes and "(fwd)" trailers removed, a "[Fwd: ...]" wrapper
// unwrapped, repeatedly. The result is compared case-insensitively.
func BaseSubject(subject string) string {
	s, _ := baseSubject(subject)
	return s
}

// baseSubject is BaseSubject, also reporting whether the subject was a
// reply or forward: whether a "Re:"/"Fw:"/"Fwd:" leader, a "(fwd)"
// trailer or a "[Fwd: ...]" wrapper was removed. A "[blob]" removed on its
// own (a list tag) does not make a reply (RFC 5256 section 2.1, as
// Dovecot reads it).
func baseSubject(subject string) (base string, replyOrForward bool) {
	s := collapseSpace(decodeWords(subject)) // step 1
	for {
		// Step 2: remove trailing "(fwd)" and white space.
		for {
			t := strings.TrimRight(s, " ")
			if n := len(t); n >= 5 && strings.EqualFold(t[n-5:], "(fwd)") {
				s = t[:n-5]
				replyOrForward = true
				continue
			}
			s = t
			break
		}
		// Steps 3 to 5: remove leaders and a leading blob.
		for {
			t := stripLeader(s)
			if t != s {
				replyOrForward = true // stripLeader only removes a leader that has "Re:" & co.
			}
			if b := skipBlob(t); b > 0 && b < len(t) {
				t = t[b:]
			}
			if t == s {
				break
			}
			s = t
		}
		// Step 6: "[fwd:" subject "]" is the subject.
		if n := len(s); n >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[n-1] == ']' {
			s = strings.TrimLeft(s[5:n-1], " ")
			replyOrForward = true
			continue
		}
		return s, replyOrForward
	}
}

// collapseSpace turns tabs and line breaks into spaces and runs of
// spaces into one, and trims the ends.
func collapseSpace(s string) string {
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// skipBlob returns the length of a leading subj-blob ("[" *BLOBCHAR "]"
// *WSP), or 0.
func skipBlob(s string) int {
	if s == "" || s[0] != '[' {
		return 0
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return 0
	}
	i := end + 2
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// stripLeader removes one subj-leader: *subj-blob subj-refwd, where
// subj-refwd is ("re" / "fw" / "fwd") *WSP [subj-blob] ":" (RFC 5256
// section 5). Without one it returns s.
func stripLeader(s string) string {
	i := 0
	for b := skipBlob(s[i:]); b > 0; b = skipBlob(s[i:]) {
		i += b
	}
	rest := s[i:]
	var n int
	switch {
	case len(rest) >= 3 && strings.EqualFold(rest[:3], "fwd"):
		n = 3
	case len(rest) >= 2 && (strings.EqualFold(rest[:2], "re") || strings.EqualFold(rest[:2], "fw")):
		n = 2
	default:
		return s
	}
	for n < len(rest) && rest[n] == ' ' {
		n++
	}
	n += skipBlob(rest[n:])
	if n >= len(rest) || rest[n] != ':' {
		return s
	}
	return strings.TrimLeft(rest[n+1:], " ")
}

// IsReplyOrForward reports whether a subject is a reply or forward as
// RFC 5256 THREAD REFERENCES (section 2.2 step 5) uses it: BaseSubject
// removed a "Re:"/"Fw:"/"Fwd:" leader, a "(fwd)" trailer or a "[Fwd: ...]"
// wrapper. A list tag ("[list] ...") or a difference of case alone does
// not count: two such threads are gathered under a placeholder, not one
// under the other.
func IsReplyOrForward(subject string) bool {
	_, reply := baseSubject(subject)
	return reply
}

// MessageIDs returns the message identifiers ("<...>") in a Message-ID,
// In-Reply-To or References field, in order.
func MessageIDs(v string) []string {
	var ids []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return ids
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return ids
		}
		if id := strings.Join(strings.Fields(v[i:i+j+1]), ""); len(id) > 2 {
			ids = append(ids, id)
		}
		v = v[i+j+1:]
	}
}
