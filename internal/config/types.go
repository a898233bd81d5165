package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("10m", "30s").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalText() ([]byte, error) { return []byte(formatDuration(time.Duration(d))), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. 30s, 10m, 1h)", b)
	}
	*d = Duration(v)
	return nil
}

// formatDuration writes durations the way people type them: "10m", not
// "10m0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Expire is the POP3 EXPIRE policy: a number of days, or never.
type Expire struct {
	Days  int
	Never bool
}

// ExpireNever keeps retrieved messages until the client deletes them.
var ExpireNever = Expire{Never: true}

// Duration returns how long a retrieved message is kept; ok is false for
// never.
func (e Expire) Duration() (d time.Duration, ok bool) {
	if e.Never {
		return 0, false
	}
	return time.Duration(e.Days) * 24 * time.Hour, true
}

func (e Expire) MarshalText() ([]byte, error) {
	if e.Never {
		return []byte("never"), nil
	}
	return []byte(strconv.Itoa(e.Days)), nil
}

func (e *Expire) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.EqualFold(s, "never") {
		*e = ExpireNever
		return nil
	}
	n, err := strconv.Atoi(s)
	// 0 (RFC 2449 "EXPIRE 0": delete at the end of the session) is not
	// offered: the POP3 server has no such mode.
	if err != nil || n < 1 {
		return fmt.Errorf("invalid value %q (want \"never\" or a number of days >= 1)", b)
	}
	*e = Expire{Days: n}
	return nil
}

// Size is a byte count, written as a number or with a KiB/MiB/GiB suffix
// (also K/M/G, KB/MB/GB meaning the same binary units).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10},
	{"B", 1},
}

func (s Size) MarshalText() ([]byte, error) {
	for _, u := range sizeUnits[:3] { // the IEC units, largest first
		if s != 0 && int64(s)%u.mult == 0 {
			return []byte(strconv.FormatInt(int64(s)/u.mult, 10) + u.suffix), nil
		}
	}
	return []byte(strconv.FormatInt(int64(s), 10)), nil
}

func (s *Size) UnmarshalText(b []byte) error {
	str := strings.TrimSpace(string(b))
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(strings.ToUpper(str), strings.ToUpper(u.suffix)) {
			str, mult = strings.TrimSpace(str[:len(str)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("invalid size %q (want bytes, or a number with KiB, MiB or GiB)", b)
	}
	if n > (1<<62)/mult {
		return errors.New("size too large")
	}
	*s = Size(n * mult)
	return nil
}
