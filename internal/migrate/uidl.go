package migrate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// UIDLVars are the values a Dovecot pop3_uidl_format can refer to.
type UIDLVars struct {
	UID         uint32 // %u
	UIDValidity uint32 // %v
	// FileName is a Maildir message's base file name (before ":2,"): %f, and
	// %g, which for Maildir is the same. Empty for mbox messages.
	FileName string
}

// UIDLFormat is a parsed Dovecot pop3_uidl_format. When the source did not
// save its POP3 UIDLs (pop3_save_uidl = no: no P fields in dovecot-uidlist,
// no X-UIDL), Dovecot computed each UIDL from this format; an importer
// computes the same to keep them. Default Dovecot: "%08Xu%08Xv".
type UIDLFormat struct {
	src   string
	parts []uidlPart
}

// uidlPart is literal text (v == 0) or one %-variable with Dovecot's
// var_expand syntax %[offset.][0][width][modifiers]var.
type uidlPart struct {
	lit       string
	v         byte // 'u', 'v', 'f', 'g'; 0 for a literal
	offset    int
	width     int
	zeroPad   bool
	modifiers string // X (lower-case hex of a number), L, U, applied in order
}

// ParseUIDLFormat parses format. Variables other than %u %v %f %g, and %m
// (Dovecot's MD5 of an mbox message's header, not reproduced), are errors.
func ParseUIDLFormat(format string) (*UIDLFormat, error) {
	f := &UIDLFormat{src: format}
	s := format
	for s != "" {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			f.parts = append(f.parts, uidlPart{lit: s})
			break
		}
		if i > 0 {
			f.parts = append(f.parts, uidlPart{lit: s[:i]})
		}
		s = s[i+1:]
		p := uidlPart{}
		num := func() (int, bool) {
			j := 0
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j == 0 {
				return 0, false
			}
			n, err := strconv.Atoi(s[:j])
			s = s[j:]
			if err != nil || n >= 1000 {
				return -1, false
			}
			return n, true
		}
		if strings.HasPrefix(s, "0") {
			p.zeroPad = true
		}
		n, ok := num()
		if !ok && n != 0 {
			return nil, fmt.Errorf("pop3_uidl_format %q: width or offset too large", format)
		}
		if ok {
			if strings.HasPrefix(s, ".") { // that was the offset
				s = s[1:]
				p.offset = n
				p.zeroPad = strings.HasPrefix(s, "0")
				if n, ok = num(); !ok && n != 0 {
					return nil, fmt.Errorf("pop3_uidl_format %q: width too large", format)
				}
			}
			p.width = n
		}
		for s != "" && strings.IndexByte("XLU", s[0]) >= 0 {
			p.modifiers += s[:1]
			s = s[1:]
		}
		if s == "" {
			return nil, fmt.Errorf("pop3_uidl_format %q ends inside a variable", format)
		}
		switch c := s[0]; c {
		case '%':
			p.lit = "%"
		case 'u', 'v', 'f', 'g':
			p.v = c
		case 'm':
			return nil, fmt.Errorf("pop3_uidl_format %q: %%m (Dovecot's header MD5) is not supported", format)
		default:
			return nil, fmt.Errorf("pop3_uidl_format %q: unknown variable %%%c", format, c)
		}
		s = s[1:]
		f.parts = append(f.parts, p)
	}
	return f, nil
}

func (f *UIDLFormat) String() string { return f.src }

// Format computes the UIDL of one message.
func (f *UIDLFormat) Format(v UIDLVars) (string, error) {
	var b strings.Builder
	for _, p := range f.parts {
		if p.v == 0 {
			b.WriteString(p.lit)
			continue
		}
		var val string
		var num uint32
		isNum := true
		switch p.v {
		case 'u':
			num = v.UID
		case 'v':
			num = v.UIDValidity
		case 'f', 'g':
			if v.FileName == "" {
				return "", errors.New("pop3_uidl_format %" + string(p.v) + " needs a Maildir file name")
			}
			val, isNum = v.FileName, false
		}
		if isNum {
			val = strconv.FormatUint(uint64(num), 10)
		}
		for _, m := range p.modifiers {
			switch m {
			case 'X':
				if isNum {
					val = strconv.FormatUint(uint64(num), 16)
				}
			case 'L':
				val = strings.ToLower(val)
			case 'U':
				val = strings.ToUpper(val)
			}
		}
		if p.offset >= len(val) {
			val = ""
		} else {
			val = val[p.offset:]
		}
		switch {
		case p.zeroPad && len(val) < p.width:
			val = strings.Repeat("0", p.width-len(val)) + val
		case !p.zeroPad && p.width > 0 && len(val) > p.width:
			val = val[:p.width]
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// NeedsUID reports whether the format uses the UID or the UIDVALIDITY (%u,
// %v): its UIDLs are then only the old server's when those are.
func (f *UIDLFormat) NeedsUID() bool {
	for _, p := range f.parts {
		if p.v == 'u' || p.v == 'v' {
			return true
		}
	}
	return false
}
