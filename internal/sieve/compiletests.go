package sieve

// Compiling tests (RFC 5228 section 5 and the extensions' tests).

// addressHeaders are the fields the address test accepts. RFC 5228 5.1:
// implementations MUST restrict the test to headers that contain addresses
// and SHOULD include every field whose body is an address list. This is
// the set Pigeonhole accepts, plus Disposition-Notification-To (RFC 8098).
var addressHeaders = map[string]bool{
	"from": true, "sender": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"resent-from": true, "resent-sender": true, "resent-to": true, "resent-cc": true,
	"resent-bcc": true, "resent-reply-to": true, "delivered-to": true, "x-original-to": true,
	"errors-to": true, "mail-followup-to": true, "mail-reply-to": true,
	"disposition-notification-to": true,
}

func (c *compiler) matcher(a *argv, keys []string) (*matcher, error) {
	m := &matcher{keys: keys}
	for t, mt := range matchTypes {
		if a.has(t) {
			m.mt = mt
			if mt == mtValue || mt == mtCount {
				rel, ok := relations[foldASCII(a.str(t))]
				if !ok {
					return nil, errAt(a.tags[t].Pos, "%s: unknown relation %q", a.name, a.str(t))
				}
				m.rel = rel
			}
		}
	}
	if a.has("comparator") {
		name := a.str("comparator")
		cmp, ok := comparators[name]
		if !ok {
			return nil, errAt(a.tags["comparator"].Pos, "%s: unknown comparator %q", a.name, name)
		}
		// RFC 5228 2.7.3: comparators beyond the two base ones are required.
		if cmp == cmpNumeric {
			if err := c.need("comparator-"+name, a.tags["comparator"].Pos, "comparator "+name); err != nil {
				return nil, err
			}
			if m.mt == mtContains || m.mt == mtMatches {
				return nil, errAt(a.tags["comparator"].Pos, "%s: %s supports no substring match", a.name, name)
			}
		}
		m.cmp = cmp
	}
	if m.mt == mtRegex {
		if err := c.compileRegexKeys(m, a, a.positional[len(a.positional)-1]); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *compiler) test(t *Test) (test, error) {
	p := t.Pos
	if t.Name != "allof" && t.Name != "anyof" && t.Name != "not" {
		if err := c.noTests(t.Name, p, t.Tests); err != nil {
			return nil, err
		}
	}
	switch t.Name {
	case "true", "false":
		_, err := c.split(t.Name, p, t.Args, nil, 0)
		return constTest(t.Name == "true"), err
	case "not":
		if _, err := c.split(t.Name, p, t.Args, nil, 0); err != nil {
			return nil, err
		}
		if len(t.Tests) != 1 {
			return nil, errAt(p, "not needs exactly one test")
		}
		sub, err := c.test(t.Tests[0])
		return notTest{sub}, err
	case "allof", "anyof":
		if _, err := c.split(t.Name, p, t.Args, nil, 0); err != nil {
			return nil, err
		}
		if len(t.Tests) == 0 {
			return nil, errAt(p, "%s needs a test list", t.Name)
		}
		lt := &listTest{all: t.Name == "allof"}
		for _, s := range t.Tests {
			sub, err := c.test(s)
			if err != nil {
				return nil, err
			}
			lt.tests = append(lt.tests, sub)
		}
		return lt, nil
	case "size":
		a, err := c.split(t.Name, p, t.Args, map[string]tagSpec{"over": {group: "rel"}, "under": {group: "rel"}}, 1)
		if err != nil {
			return nil, err
		}
		if !a.has("over") && !a.has("under") {
			return nil, errAt(p, "size needs :over or :under")
		}
		if a.positional[0].Kind != ArgNumber {
			return nil, errAt(a.positional[0].Pos, "size needs a number")
		}
		return sizeTest{over: a.has("over"), n: a.positional[0].Num}, nil
	case "exists":
		a, err := c.split(t.Name, p, t.Args, nil, 1)
		if err != nil {
			return nil, err
		}
		names, err := a.strings(0)
		return existsTest{names}, err
	case "header", "address", "envelope", "hasflag", "string":
		return c.matchTest(t)
	case "body":
		return c.bodyTest(t)
	case "date", "currentdate":
		return c.dateTest(t)
	case "duplicate":
		return c.duplicateTest(t)
	case "mailboxexists":
		if err := c.need("mailbox", p, t.Name); err != nil {
			return nil, err
		}
		a, err := c.split(t.Name, p, t.Args, nil, 1)
		if err != nil {
			return nil, err
		}
		names, err := a.strings(0)
		return mailboxExistsTest{names}, err
	}
	return nil, errAt(p, "unknown test %q", t.Name)
}

func (c *compiler) matchTest(t *Test) (test, error) {
	spec, npos := matchTags, 2
	switch t.Name {
	case "header":
		spec = merge(matchTags, indexTags)
	case "address":
		spec = merge(matchTags, addressTags, indexTags)
	case "envelope":
		spec = merge(matchTags, addressTags)
	case "hasflag":
		npos = 1
	}
	switch t.Name {
	case "envelope", "hasflag", "string":
		ext := map[string]string{"envelope": "envelope", "hasflag": "imap4flags", "string": "variables"}[t.Name]
		if err := c.need(ext, t.Pos, t.Name); err != nil {
			return nil, err
		}
	}
	a, err := c.split(t.Name, t.Pos, t.Args, spec, -1)
	if err != nil {
		return nil, err
	}
	var flagVars []string
	if t.Name == "hasflag" && len(a.positional) == 2 {
		// RFC 5232 4: the optional first list names variables.
		if err := c.need("variables", t.Pos, "hasflag with variables"); err != nil {
			return nil, err
		}
		if flagVars, err = a.strings(0); err != nil {
			return nil, err
		}
		for _, v := range flagVars {
			if !isIdentifier(v) {
				return nil, errAt(a.positional[0].Pos, "hasflag: invalid variable name %q", v)
			}
		}
		a.positional = a.positional[1:]
	}
	if len(a.positional) != npos {
		return nil, errAt(t.Pos, "%s takes %d positional argument(s), found %d", t.Name, npos, len(a.positional))
	}
	keys, err := a.strings(npos - 1)
	if err != nil {
		return nil, err
	}
	m, err := c.matcher(a, keys)
	if err != nil {
		return nil, err
	}
	if t.Name == "hasflag" {
		m.keys = normFlags(keys)
		if m.mt == mtRegex { // compiled again, one per flag
			if err := c.compileRegexKeys(m, a, a.positional[len(a.positional)-1]); err != nil {
				return nil, err
			}
		}
		if c.req["variables"] {
			m.keys, m.flags = keys, true // normalised once expanded
		}
		return &hasflagTest{vars: flagVars, m: m}, nil
	}
	names, err := a.strings(0)
	if err != nil {
		return nil, err
	}
	part := apAll
	for tag, ap := range addressParts {
		if a.has(tag) {
			part = ap
		}
	}
	idx, err := c.fieldIndex(a)
	if err != nil {
		return nil, err
	}
	switch t.Name {
	case "header":
		return &headerTest{names: names, idx: idx, m: m}, nil
	case "string":
		return &stringTest{source: names, m: m}, nil
	case "address":
		for _, n := range names {
			if !addressHeaders[foldASCII(n)] && !c.dynamic(n) {
				return nil, errAt(a.positional[0].Pos, "address: header %q does not hold addresses", n)
			}
		}
		return &addressTest{names: names, part: part, idx: idx, m: m}, nil
	}
	return &envelopeTest{parts: names, part: part, m: m}, nil
}
