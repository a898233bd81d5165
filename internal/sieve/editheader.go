package sieve

import (
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
)

// editheader (RFC 5293):
//
//	addheader [":last"] <field-name> <value>
//	deleteheader [":index" <n> [":last"]] [COMPARATOR] [MATCH-TYPE]
//	             <field-name> [<value-patterns>]
//
// The run keeps the header as a list of fields, each as received (so
// untouched fields reach the store byte for byte); tests after an edit see
// the edited header, and each keep, fileinto and redirect carries the
// header as it stands when it runs (Action.Header). Received and
// Auto-Submitted can be neither added nor deleted (RFC 5293 section 9
// lets us protect fields; these two are the trace and loop protection):
// such an edit is ignored, as Pigeonhole ignores deleting them, and the
// script goes on. The edited header is bounded by Limits.MaxHeader.

// HeaderField is one header field as received.
type HeaderField struct {
	Name string // as written
	Raw  string // the whole field with its folded lines and line ends
}

// FieldMessage is a Message that lists its header fields in order, which
// editheader needs.
type FieldMessage interface {
	Message
	Fields() []HeaderField
}

var protectedFields = map[string]bool{"received": true, "auto-submitted": true}

// validFieldName reports whether s is an RFC 5322 field-name.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 || s[i] == ':' {
			return false
		}
	}
	return true
}

// checkFieldName checks a field name given in a script.
func checkFieldName(cmd, name string) error {
	if !validFieldName(name) {
		return fmt.Errorf("%s: invalid field name %q", cmd, name)
	}
	return nil
}

type addHeaderNode struct {
	last        bool
	name, value string
}

type deleteHeaderNode struct {
	idx      fieldIndex
	name     string
	patterns bool
	m        *matcher
}

func (c *compiler) addheader(cmd *Command) (node, error) {
	if err := c.need("editheader", cmd.Pos, cmd.Name); err != nil {
		return nil, err
	}
	a, err := c.split(cmd.Name, cmd.Pos, cmd.Args, map[string]tagSpec{"last": {}}, 2)
	if err != nil {
		return nil, err
	}
	n := &addHeaderNode{last: a.has("last")}
	if n.name, err = a.string(0); err != nil {
		return nil, err
	}
	if n.value, err = a.string(1); err != nil {
		return nil, err
	}
	if !c.dynamic(n.name) {
		if err := checkFieldName(cmd.Name, n.name); err != nil {
			return nil, errAt(a.positional[0].Pos, "%v", err)
		}
	}
	return n, nil
}

func (c *compiler) deleteheader(cmd *Command) (node, error) {
	if err := c.need("editheader", cmd.Pos, cmd.Name); err != nil {
		return nil, err
	}
	spec := merge(matchTags, map[string]tagSpec{"index": {takes: takesNumber}, "last": {}})
	a, err := c.split(cmd.Name, cmd.Pos, cmd.Args, spec, -1)
	if err != nil {
		return nil, err
	}
	if len(a.positional) != 1 && len(a.positional) != 2 {
		return nil, errAt(cmd.Pos, "deleteheader takes a field name and optional value patterns")
	}
	n := &deleteHeaderNode{patterns: len(a.positional) == 2}
	if n.idx, err = c.fieldIndex(a); err != nil {
		return nil, err
	}
	if n.name, err = a.string(0); err != nil {
		return nil, err
	}
	if !c.dynamic(n.name) {
		if err := checkFieldName(cmd.Name, n.name); err != nil {
			return nil, errAt(a.positional[0].Pos, "%v", err)
		}
	}
	var keys []string
	if n.patterns {
		if keys, err = a.strings(1); err != nil {
			return nil, err
		}
	}
	if n.m, err = c.matcher(a, keys); err != nil {
		return nil, err
	}
	if n.m.mt == mtCount {
		return nil, errAt(a.tags["count"].Pos, "deleteheader: :count is not allowed (RFC 5293 6)")
	}
	return n, nil
}

// editable loads the header fields for editing.
func (r *run) editable() error {
	if r.fields != nil {
		return nil
	}
	fm, ok := r.in.Msg.(FieldMessage)
	if !ok {
		return errors.New("editheader: the message's header fields are not available")
	}
	r.fields = []HeaderField{}
	for _, f := range fm.Fields() {
		r.fields = append(r.fields, f)
		r.headerSize += len(f.Raw)
	}
	return nil
}

func (n *addHeaderNode) exec(r *run) error {
	name := r.x(n.name)
	if err := checkFieldName("addheader", name); err != nil || protectedFields[foldASCII(name)] {
		return err
	}
	if err := r.editable(); err != nil {
		return err
	}
	f := HeaderField{Name: name, Raw: foldField(name, r.x(n.value))}
	if r.headerSize+len(f.Raw) > r.lim.MaxHeader {
		return fmt.Errorf("addheader: the header would exceed %d octets", r.lim.MaxHeader)
	}
	if err := r.charge(int64(len(f.Raw))); err != nil {
		return err
	}
	r.headerSize += len(f.Raw)
	if n.last {
		r.fields = append(r.fields, f)
	} else {
		r.fields = append([]HeaderField{f}, r.fields...)
	}
	r.headerBytes, r.edited = nil, true
	return nil
}

func (n *deleteHeaderNode) exec(r *run) error {
	name := r.x(n.name)
	if err := checkFieldName("deleteheader", name); err != nil || protectedFields[foldASCII(name)] {
		return err
	}
	if err := r.editable(); err != nil {
		return err
	}
	// The occurrences of the field, then the one :index picks.
	var at []int
	for i, f := range r.fields {
		if strings.EqualFold(f.Name, name) {
			at = append(at, i)
		}
	}
	if n.idx.n > 0 {
		if n.idx.n > uint64(len(at)) {
			return nil
		}
		i := int(n.idx.n) - 1
		if n.idx.last {
			i = len(at) - 1 - i
		}
		at = at[i : i+1]
	}
	var keys []string
	if n.patterns {
		keys = r.xs(n.m.keys)
	}
	del := map[int]bool{}
	for _, i := range at {
		if n.patterns {
			ok, err := n.m.match(r, keys, fieldValue(r.fields[i]))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		del[i] = true
	}
	if len(del) == 0 {
		return nil
	}
	kept := r.fields[:0:0]
	for i, f := range r.fields {
		if del[i] {
			r.headerSize -= len(f.Raw)
			continue
		}
		kept = append(kept, f)
	}
	r.fields = kept
	r.headerBytes, r.edited = nil, true
	return nil
}

// fieldValue is a field's value as tests see it: unfolded, trimmed, RFC
// 2047 words decoded.
func fieldValue(f HeaderField) string {
	_, v, _ := strings.Cut(f.Raw, ":")
	v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	return message.DecodeWords(strings.TrimSpace(v))
}

// header returns the named fields' values, from the edited header once
// editheader changed it.
// Until then the message's answers are kept per name: 50 rules testing
// From look it up (and decode it) once. Callers must not change the slice.
func (r *run) header(name string) []string {
	if r.fields == nil {
		key := foldASCII(name)
		if v, ok := r.hcache[key]; ok {
			return v
		}
		v := r.in.Msg.Header(name)
		if r.hcache == nil {
			r.hcache = map[string][]string{}
		}
		r.hcache[key] = v
		return v
	}
	var out []string
	for _, f := range r.fields {
		if strings.EqualFold(f.Name, name) {
			out = append(out, fieldValue(f))
		}
	}
	return out
}

// editedHeader is the header for an action: nil when no edit was made,
// else the fields as they stand (without the blank line that ends the
// header section). Actions between two edits share one slice.
func (r *run) editedHeader() []byte {
	if !r.edited {
		return nil
	}
	if r.headerBytes == nil {
		var b strings.Builder
		for _, f := range r.fields {
			b.WriteString(f.Raw)
		}
		r.headerBytes = []byte(b.String())
	}
	return r.headerBytes
}

// foldField writes a new field: the value on one logical line (line
// breaks in it become spaces), RFC 2047-encoded when it is not ASCII, and
// folded at spaces to keep lines near 78 octets (RFC 5322 2.2.3).
func foldField(name, value string) string {
	value = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(value)
	for i := 0; i < len(value); i++ {
		if value[i] >= 0x80 || value[i] < 0x20 && value[i] != '\t' {
			value = mime.QEncoding.Encode("utf-8", value)
			break
		}
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(":")
	line := len(name) + 1
	for i, w := range strings.Split(value, " ") {
		if i > 0 && line+1+len(w) > 78 {
			b.WriteString("\r\n")
			line = 0
		}
		b.WriteString(" ")
		b.WriteString(w)
		line += 1 + len(w)
	}
	b.WriteString("\r\n")
	return b.String()
}
