package fetch

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Proto is the remote protocol of a source.
type Proto uint8

const (
	POP3 Proto = iota + 1
	IMAP
)

// TLSMode is how a source's connection is protected.
type TLSMode uint8

const (
	TLSImplicit TLSMode = iota + 1 // pop3s://, imaps://
	TLSStart                       // STLS / STARTTLS, required (?starttls)
	TLSNone                        // cleartext, only when asked for (?cleartext)
)

// Spec is a parsed source URL:
//
//	pop3s://user@host[:995]/            POP3 over TLS
//	pop3://user@host[:110]/?starttls    POP3 with STLS
//	imaps://user@host[:993]/[FOLDER]    IMAP over TLS, one folder (INBOX by default)
//	imap://user@host[:143]/?starttls&all
//
// Query options: starttls; cleartext (no TLS at all: the password crosses
// the network readable); all (IMAP: every folder, each to the local
// folder of the same name or special use); auth=user|apop|plain (POP3) or
// auth=login|plain (IMAP), by default the best the server offers that
// needs no option (AUTH PLAIN, else USER/PASS or LOGIN).
type Spec struct {
	Proto  Proto
	TLS    TLSMode
	Host   string // host name, for TLS verification
	Addr   string // host:port
	User   string
	Folder string // IMAP, when not All
	All    bool
	Auth   string
}

// ParseURL parses and checks a source URL. A password in the URL is
// refused: it belongs in the store's password field, never in text that
// is printed and logged.
func ParseURL(raw string) (Spec, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a password
		}
		return Spec{}, fmt.Errorf("source URL: %w", err)
	}
	if _, has := u.User.Password(); has {
		return Spec{}, fmt.Errorf("source URL: put no password in the URL (give it with --password-stdin)")
	}
	var s Spec
	var port string
	switch strings.ToLower(u.Scheme) {
	case "pop3s":
		s.Proto, s.TLS, port = POP3, TLSImplicit, "995"
	case "pop3":
		s.Proto, port = POP3, "110"
	case "imaps":
		s.Proto, s.TLS, port = IMAP, TLSImplicit, "993"
	case "imap":
		s.Proto, port = IMAP, "143"
	default:
		return Spec{}, fmt.Errorf("source URL %q: the scheme must be pop3s, pop3, imaps or imap", raw)
	}
	if u.User == nil || u.User.Username() == "" {
		return Spec{}, fmt.Errorf("source URL %q: no user (write scheme://user@host/)", raw)
	}
	s.User = u.User.Username()
	s.Host = u.Hostname()
	if s.Host == "" {
		return Spec{}, fmt.Errorf("source URL %q: no host", raw)
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.Addr = net.JoinHostPort(s.Host, port)
	q := u.Query()
	for k := range q {
		switch k {
		case "starttls", "cleartext", "all", "auth":
		default:
			return Spec{}, fmt.Errorf("source URL %q: unknown option %q (known: starttls, cleartext, all, auth)", raw, k)
		}
	}
	if q.Has("starttls") && q.Has("cleartext") {
		return Spec{}, fmt.Errorf("source URL %q: starttls and cleartext exclude each other", raw)
	}
	if s.TLS == 0 {
		switch {
		case q.Has("starttls"):
			s.TLS = TLSStart
		case q.Has("cleartext"):
			s.TLS = TLSNone
		default:
			return Spec{}, fmt.Errorf("source URL %q: %s:// without TLS would send the password in clear: add ?starttls (or ?cleartext if you mean it)", raw, u.Scheme)
		}
	} else if q.Has("starttls") || q.Has("cleartext") {
		return Spec{}, fmt.Errorf("source URL %q: %s:// is TLS already (starttls and cleartext are for %s://)", raw, u.Scheme, strings.TrimSuffix(u.Scheme, "s"))
	}
	s.Auth = strings.ToLower(q.Get("auth"))
	folder := strings.TrimPrefix(u.Path, "/")
	s.All = q.Has("all")
	switch s.Proto {
	case POP3:
		if folder != "" || s.All {
			return Spec{}, fmt.Errorf("source URL %q: a POP3 source has no folders", raw)
		}
		if s.Auth != "" && s.Auth != "user" && s.Auth != "apop" && s.Auth != "plain" {
			return Spec{}, fmt.Errorf("source URL %q: POP3 auth is user, apop or plain", raw)
		}
	case IMAP:
		if s.All && folder != "" {
			return Spec{}, fmt.Errorf("source URL %q: give a folder or all, not both", raw)
		}
		if !s.All {
			s.Folder = folder
			if s.Folder == "" {
				s.Folder = "INBOX"
			}
		}
		if s.Auth != "" && s.Auth != "login" && s.Auth != "plain" {
			return Spec{}, fmt.Errorf("source URL %q: IMAP auth is login or plain", raw)
		}
	}
	return s, nil
}

// ProtoName is the protocol as logs, metrics and Received fields name it:
// pop3, pop3s, imap, imaps (with STARTTLS counting as TLS).
func (s Spec) ProtoName() string {
	name := "pop3"
	if s.Proto == IMAP {
		name = "imap"
	}
	if s.TLS != TLSNone {
		name += "s"
	}
	return name
}
