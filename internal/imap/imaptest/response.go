package imaptest

// The parsed form of server responses.

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind says what a Value is.
type Kind uint8

const (
	Atom   Kind = iota // atom or number, including FETCH items such as BODY[1.MIME]<0>
	String             // quoted string or literal
	Nil                // NIL
	List               // parenthesised list
)

// Value is one parsed element of a response.
type Value struct {
	Kind Kind
	// S is the atom's text or the string's content (unescaped, the
	// literal's octets).
	S string
	// Literal is set when the string came as a literal ({n}); Binary
	// when it came as a literal8 (~{n}).
	Literal, Binary bool
	L               []Value // the list's elements
}

// IsAtom reports whether v is the atom word (case-insensitive).
func (v Value) IsAtom(word string) bool { return v.Kind == Atom && strings.EqualFold(v.S, word) }

// Number returns the value as a number (an atom of digits).
func (v Value) Number() (uint32, bool) {
	if v.Kind != Atom {
		return 0, false
	}
	n, err := strconv.ParseUint(v.S, 10, 32)
	return uint32(n), err == nil
}

// Text returns the atom or string content, "" for NIL and lists.
func (v Value) Text() string {
	if v.Kind == Atom || v.Kind == String {
		return v.S
	}
	return ""
}

// String renders v canonically: strings Go-quoted whatever their wire
// form (quoted or literal; ~"..." for a literal8), atoms as they are.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.Kind {
	case Atom:
		b.WriteString(v.S)
	case Nil:
		b.WriteString("NIL")
	case String:
		if v.Binary {
			b.WriteByte('~')
		}
		b.WriteString(strconv.Quote(v.S))
	case List:
		b.WriteByte('(')
		for i, e := range v.L {
			if i > 0 {
				b.WriteByte(' ')
			}
			e.write(b)
		}
		b.WriteByte(')')
	}
}

// Values renders a list of values canonically, space-separated.
func Values(vs []Value) string { return Value{Kind: List, L: vs}.String() }

// Response is one server response.
type Response struct {
	// Tag is "*" for untagged data, "+" for a continuation request, else
	// the tag of the command it completes.
	Tag string
	// Num is the number before the name in "* 3 EXISTS", "* 2 FETCH ...".
	Num    uint32
	HasNum bool
	// Name is the upper-cased response name: OK, NO, BAD, BYE, PREAUTH,
	// EXISTS, EXPUNGE, FETCH, RECENT, LIST, CAPABILITY, ...; "" for "+".
	Name string
	// Code and CodeArgs are the response code of a status response
	// ("[UIDNEXT 4]" is Code "UIDNEXT", CodeArgs [4]); Code is upper-cased.
	Code     string
	CodeArgs []Value
	// Text is the human-readable text of a status response or of a
	// continuation request.
	Text string
	// Args are the data after Name (or after the number) in data
	// responses: for FETCH, one List of item names and values.
	Args []Value
	// Raw is the response as received, literals included.
	Raw string
}

// IsStatus reports whether r is an OK/NO/BAD/BYE/PREAUTH response.
func (r *Response) IsStatus() bool {
	switch r.Name {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
		return true
	}
	return false
}

// String renders the response canonically (see Value.String), the text
// of status responses included.
func (r *Response) String() string {
	var b strings.Builder
	b.WriteString(r.Tag)
	if r.HasNum {
		fmt.Fprintf(&b, " %d", r.Num)
	}
	if r.Name != "" {
		b.WriteString(" " + r.Name)
	}
	if r.Code != "" {
		b.WriteString(" [" + r.Code)
		for _, a := range r.CodeArgs {
			b.WriteString(" " + a.String())
		}
		b.WriteString("]")
	}
	for _, a := range r.Args {
		b.WriteString(" " + a.String())
	}
	if r.Text != "" {
		b.WriteString(" " + r.Text)
	}
	return b.String()
}

// FetchItem is one "name value" pair of a FETCH response.
type FetchItem struct {
	Name  string // upper-cased: UID, FLAGS, BODY[1.MIME]<0>, ...
	Value Value
}

// FetchItems returns the items of a FETCH response in the order sent, or
// an error when r is not a well-formed FETCH response.
func (r *Response) FetchItems() ([]FetchItem, error) {
	if r.Name != "FETCH" || !r.HasNum || len(r.Args) != 1 || r.Args[0].Kind != List {
		return nil, fmt.Errorf("not a FETCH response: %s", r.Raw)
	}
	l := r.Args[0].L
	if len(l)%2 != 0 {
		return nil, fmt.Errorf("FETCH with an odd number of elements: %s", trunc(r.Raw))
	}
	items := make([]FetchItem, 0, len(l)/2)
	for i := 0; i < len(l); i += 2 {
		if l[i].Kind != Atom {
			return nil, fmt.Errorf("FETCH item name is not an atom: %s", trunc(r.Raw))
		}
		items = append(items, FetchItem{Name: strings.ToUpper(l[i].S), Value: l[i+1]})
	}
	return items, nil
}

// FetchItem returns the value of the named item of a FETCH response.
func (r *Response) FetchItem(name string) (Value, bool) {
	items, err := r.FetchItems()
	if err != nil {
		return Value{}, false
	}
	for _, it := range items {
		if strings.EqualFold(it.Name, name) {
			return it.Value, true
		}
	}
	return Value{}, false
}
