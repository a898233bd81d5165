package sieve

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// The date and currentdate tests and :index (RFC 5260):
//
//	date [":zone" <zone> / ":originalzone"] [COMPARATOR] [MATCH-TYPE]
//	     [":index" <n> [":last"]] <header-name> <date-part> <key-list>
//	currentdate [":zone" <zone>] [COMPARATOR] [MATCH-TYPE] <date-part> <key-list>
//
// A header's date is its RFC 5322 date-time, or what follows the last ";"
// (a Received field); a field without one is skipped. Without :zone or
// :originalzone, dates are shown in the zone of Input.Now (the server's).

var dateParts = map[string]bool{"year": true, "month": true, "day": true, "date": true, "julian": true,
	"hour": true, "minute": true, "second": true, "time": true, "iso8601": true, "std11": true,
	"zone": true, "weekday": true}

var (
	zoneTags  = map[string]tagSpec{"zone": {group: "zone", takes: takesString}, "originalzone": {group: "zone"}}
	indexTags = map[string]tagSpec{"index": {takes: takesNumber, ext: "index"}, "last": {ext: "index"}}
)

type dateTest struct {
	current  bool
	header   string
	zone     string // "" = local
	original bool
	part     string
	idx      fieldIndex
	m        *matcher
}

// fieldIndex is :index n [:last] (RFC 5260 6); n == 0 is every field.
type fieldIndex struct {
	n    uint64
	last bool
}

func (c *compiler) fieldIndex(a *argv) (fieldIndex, error) {
	fi := fieldIndex{last: a.has("last")}
	if a.has("index") {
		fi.n = a.tags["index"].Num
		if fi.n == 0 {
			return fi, errAt(a.tags["index"].Pos, "%s: :index counts from 1", a.name)
		}
	} else if fi.last {
		return fi, errAt(a.tags["last"].Pos, "%s: :last needs :index", a.name)
	}
	return fi, nil
}

// pick returns the values :index selects.
func (fi fieldIndex) pick(values []string) []string {
	if fi.n == 0 {
		return values
	}
	if fi.n > uint64(len(values)) {
		return nil
	}
	i := int(fi.n) - 1
	if fi.last {
		i = len(values) - 1 - i
	}
	return values[i : i+1]
}

// parseZone parses "+hhmm" / "-hhmm" (RFC 5260 4.1).
func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || z[0] != '+' && z[0] != '-' || strings.Trim(z[1:], "0123456789") != "" {
		return nil, false
	}
	h, _ := strconv.Atoi(z[1:3])
	m, _ := strconv.Atoi(z[3:5])
	if h > 23 || m > 59 {
		return nil, false
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

func (c *compiler) dateTest(t *Test) (test, error) {
	if err := c.need("date", t.Pos, t.Name); err != nil {
		return nil, err
	}
	current := t.Name == "currentdate"
	spec, npos := merge(matchTags, zoneTags, indexTags), 3
	if current {
		spec, npos = merge(matchTags, map[string]tagSpec{"zone": zoneTags["zone"]}), 2
	}
	a, err := c.split(t.Name, t.Pos, t.Args, spec, npos)
	if err != nil {
		return nil, err
	}
	dt := &dateTest{current: current, zone: a.str("zone"), original: a.has("originalzone")}
	if dt.zone != "" && !c.dynamic(dt.zone) {
		if _, ok := parseZone(dt.zone); !ok {
			return nil, errAt(a.tags["zone"].Pos, "%s: bad zone %q (+hhmm or -hhmm)", t.Name, dt.zone)
		}
	}
	if dt.idx, err = c.fieldIndex(a); err != nil {
		return nil, err
	}
	i := 0
	if !current {
		if dt.header, err = a.string(0); err != nil {
			return nil, err
		}
		i = 1
	}
	if dt.part, err = a.string(i); err != nil {
		return nil, err
	}
	if !dateParts[foldASCII(dt.part)] && !c.dynamic(dt.part) {
		return nil, errAt(a.positional[i].Pos, "%s: unknown date part %q", t.Name, dt.part)
	}
	keys, err := a.strings(i + 1)
	if err != nil {
		return nil, err
	}
	if dt.m, err = c.matcher(a, keys); err != nil {
		return nil, err
	}
	return dt, nil
}

func (t *dateTest) eval(r *run) (bool, error) {
	loc := r.now().Location()
	if t.zone != "" {
		z := r.x(t.zone)
		l, ok := parseZone(z)
		if !ok {
			return false, fmt.Errorf("%s: bad zone %q", map[bool]string{true: "currentdate", false: "date"}[t.current], z)
		}
		loc = l
	}
	part := foldASCII(r.x(t.part))
	if !dateParts[part] {
		return false, fmt.Errorf("unknown date part %q", part)
	}
	var values []string
	if t.current {
		values = []string{datePart(r.now().In(loc), part)}
	} else {
		for _, v := range t.idx.pick(r.header(r.x(t.header))) {
			if err := r.charge(int64(len(v) + 1)); err != nil {
				return false, err
			}
			d, ok := headerDate(v)
			if !ok {
				continue
			}
			if !t.original {
				d = d.In(loc)
			}
			values = append(values, datePart(d, part))
		}
	}
	return t.m.matchAll(r, values)
}

func (r *run) now() time.Time {
	if r.nowT.IsZero() {
		r.nowT = r.in.Now
		if r.nowT.IsZero() {
			r.nowT = time.Now()
		}
	}
	return r.nowT
}

// headerDate parses a header field's date-time: the whole value, else
// what follows its last ";" (as in Received).
func headerDate(v string) (time.Time, bool) {
	if d, err := mail.ParseDate(v); err == nil {
		return d, true
	}
	if i := strings.LastIndexByte(v, ';'); i >= 0 {
		if d, err := mail.ParseDate(strings.TrimSpace(v[i+1:])); err == nil {
			return d, true
		}
	}
	return time.Time{}, false
}

// datePart formats one date part (RFC 5260 4.2).
func datePart(d time.Time, part string) string {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", d.Year())
	case "month":
		return fmt.Sprintf("%02d", int(d.Month()))
	case "day":
		return fmt.Sprintf("%02d", d.Day())
	case "date":
		return d.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17 of the date shown.
		// The Unix epoch is MJD 40587.
		days := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
		return strconv.FormatInt(days+40587, 10)
	case "hour":
		return fmt.Sprintf("%02d", d.Hour())
	case "minute":
		return fmt.Sprintf("%02d", d.Minute())
	case "second":
		return fmt.Sprintf("%02d", d.Second())
	case "time":
		return d.Format("15:04:05")
	case "iso8601":
		return d.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return d.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(d.Weekday()))
	}
	return ""
}
