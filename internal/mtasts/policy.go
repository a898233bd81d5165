// Package mtasts implements SMTP MTA Strict Transport Security (RFC 8461):
// the policy format, shared by the published policy (internal/web) and the
// outbound queue, which fetches, caches and enforces remote domains'
// policies (Fetcher).
package mtasts

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a policy mode (RFC 8461 section 3.2).
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeTesting Mode = "testing"
	ModeNone    Mode = "none"
)

// MaxPolicySize bounds a fetched policy body (RFC 8461 section 3.3: senders
// may limit it to 64 KiB).
const MaxPolicySize = 64 << 10

// maxMaxAge is the largest max_age allowed (section 3.2: 31557600 s).
const maxMaxAge = 31557600 * time.Second

// Policy is one domain's MTA-STS policy.
type Policy struct {
	Mode   Mode
	MX     []string // patterns: "mail.example.com" or "*.example.com"
	MaxAge time.Duration
}

// Text is the policy file, CRLF-terminated lines (section 3.2).
func (p Policy) Text() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\n")
	fmt.Fprintf(&b, "mode: %s\r\n", p.Mode)
	for _, mx := range p.MX {
		fmt.Fprintf(&b, "mx: %s\r\n", mx)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	return b.String()
}

// ID is the policy id for the _mta-sts TXT record: it changes whenever the
// policy text does, as section 3.1 requires (1 to 32 alphanumerics).
func (p Policy) ID() string {
	sum := sha256.Sum256([]byte(p.Text()))
	return hex.EncodeToString(sum[:8])
}

// Parse reads a policy file. Unknown keys are ignored (section 3.2);
// missing or invalid required fields are errors.
func Parse(text string) (Policy, error) {
	if len(text) > MaxPolicySize {
		return Policy{}, errors.New("mta-sts: policy larger than 64 KiB")
	}
	var p Policy
	var version, maxAge bool
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return Policy{}, fmt.Errorf("mta-sts: bad policy line %q", line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "version":
			if v != "STSv1" {
				return Policy{}, fmt.Errorf("mta-sts: version %q is not STSv1", v)
			}
			version = true
		case "mode":
			switch Mode(v) {
			case ModeEnforce, ModeTesting, ModeNone:
				p.Mode = Mode(v)
			default:
				return Policy{}, fmt.Errorf("mta-sts: mode %q is not enforce, testing or none", v)
			}
		case "mx":
			if v == "" || strings.ContainsAny(v, " \t") {
				return Policy{}, fmt.Errorf("mta-sts: bad mx pattern %q", v)
			}
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		case "max_age":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || len(v) > 10 {
				return Policy{}, fmt.Errorf("mta-sts: bad max_age %q", v)
			}
			p.MaxAge = time.Duration(min(n, int64(maxMaxAge/time.Second))) * time.Second
			maxAge = true
		}
	}
	switch {
	case !version:
		return Policy{}, errors.New("mta-sts: policy has no version")
	case p.Mode == "":
		return Policy{}, errors.New("mta-sts: policy has no mode")
	case !maxAge:
		return Policy{}, errors.New("mta-sts: policy has no max_age")
	case p.Mode != ModeNone && len(p.MX) == 0:
		return Policy{}, errors.New("mta-sts: policy has no mx")
	}
	return p, nil
}

// Matches reports whether host (an MX host name) matches one of the
// policy's mx patterns. A "*." pattern matches exactly one more label on
// the left (section 4.1).
func (p Policy) Matches(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if label, parent, ok := strings.Cut(host, "."); ok && label != "" && parent == rest {
				return true
			}
			continue
		}
		if host == pat {
			return true
		}
	}
	return false
}
