package sieve

// test is a compiled Sieve test.
type test interface{ eval(r *run) (bool, error) }

type (
	constTest bool
	notTest   struct{ t test }
	listTest  struct {
		all   bool
		tests []test
	}
	sizeTest struct {
		over bool
		n    uint64
	}
	existsTest        struct{ names []string }
	mailboxExistsTest struct{ names []string }
	headerTest        struct {
		names []string
		idx   fieldIndex // RFC 5260 6
		m     *matcher
	}
	addressTest struct {
		names []string
		part  addressPart
		idx   fieldIndex
		m     *matcher
	}
	envelopeTest struct {
		parts []string
		part  addressPart
		m     *matcher
	}
	hasflagTest struct {
		vars []string // RFC 5232 4: variables holding flags, nil = the internal one
		m    *matcher
	}
)

func (t constTest) eval(*run) (bool, error) { return bool(t), nil }

func (t notTest) eval(r *run) (bool, error) {
	ok, err := t.t.eval(r)
	return !ok, err
}

// eval of allof/anyof short-circuits (RFC 5228 5.2, 5.3).
func (t *listTest) eval(r *run) (bool, error) {
	for _, s := range t.tests {
		if err := r.charge(1); err != nil {
			return false, err
		}
		ok, err := s.eval(r)
		if err != nil {
			return false, err
		}
		if ok != t.all {
			return ok, nil
		}
	}
	return t.all, nil
}

// RFC 5228 5.9: :over is strictly greater, :under strictly less.
func (t sizeTest) eval(r *run) (bool, error) {
	size := r.in.Msg.Size()
	if size < 0 {
		size = 0
	}
	if t.over {
		return uint64(size) > t.n, nil
	}
	return uint64(size) < t.n, nil
}

// RFC 5228 5.5: true only if every named header exists.
func (t existsTest) eval(r *run) (bool, error) {
	for _, n := range r.xs(t.names) {
		if err := r.charge(int64(len(n) + 1)); err != nil {
			return false, err
		}
		if len(r.header(n)) == 0 {
			return false, nil
		}
	}
	return true, nil
}

func (t mailboxExistsTest) eval(r *run) (bool, error) {
	for _, n := range r.xs(t.names) {
		if r.in.MailboxExists == nil || !r.in.MailboxExists(n) {
			return false, nil
		}
	}
	return true, nil
}

func (t *headerTest) eval(r *run) (bool, error) {
	names := r.xs(t.names)
	if len(names) == 1 { // the usual case: the values as looked up, not copied
		return t.m.matchAll(r, t.idx.pick(r.header(names[0])))
	}
	var values []string
	for _, n := range names {
		values = append(values, t.idx.pick(r.header(n))...)
	}
	return t.m.matchAll(r, values)
}

func (t *addressTest) eval(r *run) (bool, error) {
	var values []string
	for _, n := range r.xs(t.names) {
		if !addressHeaders[foldASCII(n)] {
			continue // a name from a variable (checked at compile time otherwise)
		}
		for _, v := range t.idx.pick(r.header(n)) {
			if err := r.charge(int64(len(v) + 1)); err != nil {
				return false, err
			}
			for _, addr := range r.addresses(v) {
				if part, exists := t.part.part(addr); exists {
					values = append(values, part)
				}
			}
		}
	}
	return t.m.matchAll(r, values)
}

// addresses is headerAddresses, parsed once per value and run.
func (r *run) addresses(v string) []string {
	if a, ok := r.addrs[v]; ok {
		return a
	}
	a := headerAddresses(v)
	if r.addrs == nil {
		r.addrs = map[string][]string{}
	}
	r.addrs[v] = a
	return a
}

// RFC 5228 5.4: the null reverse-path compares as "" whatever the address
// part; :count counts it as no address (RFC 5231 4.1). Envelope parts other
// than "from" and "to" are never present.
func (t *envelopeTest) eval(r *run) (bool, error) {
	var values []string
	for _, p := range r.xs(t.parts) {
		addr := ""
		switch foldASCII(p) {
		case "from":
			addr = r.in.From
			if addr == "" {
				if t.m.mt != mtCount {
					values = append(values, "")
				}
				continue
			}
		case "to":
			addr = r.in.To
		default:
			continue
		}
		if v, exists := t.part.part(addr); exists {
			values = append(values, v)
		}
	}
	return t.m.matchAll(r, values)
}

// RFC 5232 4: each flag of the internal variable is matched on its own.
func (t *hasflagTest) eval(r *run) (bool, error) {
	if t.vars == nil {
		return t.m.matchAll(r, r.flags)
	}
	var flags []string
	for _, v := range t.vars {
		flags = append(flags, r.varValues[foldASCII(v)])
	}
	return t.m.matchAll(r, normFlags(flags))
}
