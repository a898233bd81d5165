package imap

import (
	"slices"
	"time"
)

// THREAD=REFERENCES (RFC 5256 section 2.2): threads from Message-ID and
// References (or In-Reply-To), then threads of one base subject gathered.

// container is a node of the thread tree: a message, or a placeholder
// (item nil) for an identifier referred to but not among the messages.
type container struct {
	item     *sortItem
	parent   *container
	children []*container
}

// hasAncestor reports whether a is c or one of its ancestors.
func (c *container) hasAncestor(a *container) bool {
	for p := c; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func (c *container) setParent(p *container) {
	if c.parent != nil {
		c.parent.children = slices.DeleteFunc(c.parent.children, func(x *container) bool { return x == c })
	}
	c.parent = p
	if p != nil {
		p.children = append(p.children, c)
	}
}

// date is what siblings are sorted by: the message's sent date, or for a
// placeholder that of its first child (children sorted first).
func (c *container) date() (time.Time, uint32) {
	for c.item == nil && len(c.children) > 0 {
		c = c.children[0]
	}
	if c.item == nil {
		return time.Time{}, 0
	}
	return c.item.sent, c.item.seq
}

func (c *container) subject() (string, bool) {
	for c.item == nil && len(c.children) > 0 {
		c = c.children[0]
	}
	if c.item == nil {
		return "", false
	}
	return c.item.texts[sortSubject], c.item.reply
}

// referenceThreads builds the root set of threads.
func referenceThreads(items []sortItem) []*container {
	byID := map[string]*container{}
	get := func(id string) *container {
		c := byID[id]
		if c == nil {
			c = &container{}
			byID[id] = c
		}
		return c
	}
	var all []*container
	for i := range items {
		it := &items[i]
		// 1.A: the message's container (a duplicate or missing
		// Message-ID gets a container of its own).
		var c *container
		if it.msgID != "" && (byID[it.msgID] == nil || byID[it.msgID].item == nil) {
			c = get(it.msgID)
		} else {
			c = &container{}
		}
		c.item = it
		all = append(all, c)
		// 1.B: link the references in order, never making a loop, never
		// changing a link already made.
		var prev *container
		for _, ref := range it.refs {
			rc := get(ref)
			if prev != nil && rc.parent == nil && !prev.hasAncestor(rc) {
				rc.setParent(prev)
			}
			prev = rc
		}
		// 1.C: the last reference is the message's parent; a parent
		// from an earlier guess is replaced.
		if prev != nil && prev.hasAncestor(c) {
			prev = nil // would make a loop
		}
		c.setParent(prev)
	}
	for _, c := range byID {
		all = append(all, c)
	}
	// 2: the root set.
	var roots []*container
	seen := map[*container]bool{}
	for _, c := range all {
		if c.parent == nil && !seen[c] {
			seen[c] = true
			roots = append(roots, c)
		}
	}
	// 4: prune placeholders.
	roots = prune(roots, true)
	for _, r := range roots {
		r.parent = nil
	}
	// 5: gather roots of one base subject.
	roots = gatherSubjects(roots)
	// 6: sort siblings by sent date, at every level, then the roots.
	sortSiblings(roots)
	return roots
}

// prune removes placeholders without children and promotes the children
// of the others, except a root placeholder with several children.
func prune(list []*container, root bool) []*container {
	var out []*container
	for _, c := range list {
		c.children = prune(c.children, false)
		for _, ch := range c.children {
			ch.parent = c
		}
		switch {
		case c.item != nil:
			out = append(out, c)
		case len(c.children) == 0:
			// dropped
		case root && len(c.children) > 1:
			out = append(out, c)
		default:
			out = append(out, c.children...)
		}
	}
	return out
}

// gatherSubjects merges root threads of one base subject (RFC 5256
// section 2.2 step 5).
func gatherSubjects(roots []*container) []*container {
	table := map[string]*container{}
	for _, r := range roots {
		subj, reply := r.subject()
		if subj == "" {
			continue
		}
		old := table[subj]
		if old == nil || (r.item == nil && old.item != nil) {
			table[subj] = r
			continue
		}
		if _, oldReply := old.subject(); old.item != nil && r.item != nil && oldReply && !reply {
			table[subj] = r
		}
	}
	var out []*container
	merged := map[*container]bool{} // roots already placed under a new placeholder
	for _, r := range roots {
		if merged[r] {
			continue
		}
		subj, reply := r.subject()
		t := table[subj]
		if subj == "" || t == r || t == nil {
			out = append(out, r)
			continue
		}
		_, tReply := t.subject()
		switch {
		case t.item == nil && r.item == nil:
			for _, ch := range r.children {
				ch.parent = t
			}
			t.children = append(t.children, r.children...)
		case t.item == nil:
			r.parent = t
			t.children = append(t.children, r)
		case r.item != nil && reply && !tReply:
			r.parent = t
			t.children = append(t.children, r)
		default:
			// Both under a new placeholder, which takes t's place.
			d := &container{children: []*container{t, r}}
			t.parent, r.parent = d, d
			table[subj] = d
			if i := slices.Index(out, t); i >= 0 {
				out[i] = d
			} else {
				out = append(out, d)
				merged[t] = true
			}
		}
	}
	return out
}

func sortSiblings(list []*container) {
	for _, c := range list {
		sortSiblings(c.children)
	}
	slices.SortStableFunc(list, func(a, b *container) int {
		ad, as := a.date()
		bd, bs := b.date()
		if r := ad.Compare(bd); r != 0 {
			return r
		}
		return int(int64(as) - int64(bs))
	})
}

// writeRefThreads writes "* THREAD" with each root: a chain of single
// children as numbers, several children each in parentheses (RFC 5256
// section 4: "(3 6 (4 23)(44 7 96))"); a placeholder writes no number.
func (s *session) writeRefThreads(roots []*container, uid bool) {
	w := s.w
	var node func(c *container, wrote bool)
	node = func(c *container, wrote bool) {
		if c.item != nil {
			if wrote {
				w.SP()
			}
			if uid {
				w.Number(uint64(c.item.uid))
			} else {
				w.Number(uint64(c.item.seq))
			}
			wrote = true
		}
		switch len(c.children) {
		case 0:
		case 1:
			node(c.children[0], wrote)
		default:
			if wrote {
				w.SP()
			}
			for _, ch := range c.children {
				w.Byte('(')
				node(ch, false)
				w.Byte(')')
			}
		}
	}
	w.Raw("* THREAD")
	for i, r := range roots {
		if i == 0 {
			w.SP()
		}
		w.Byte('(')
		node(r, false)
		w.Byte(')')
	}
	w.CRLF()
}
