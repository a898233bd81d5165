package fetch

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want Spec
	}{
		{"pop3s://u@pop.example/", Spec{Proto: POP3, TLS: TLSImplicit, Host: "pop.example", Addr: "pop.example:995", User: "u"}},
		{"pop3://u%40x.example@pop.example:1110/?starttls", Spec{Proto: POP3, TLS: TLSStart, Host: "pop.example", Addr: "pop.example:1110", User: "u@x.example"}},
		{"pop3://u@pop.example/?cleartext&auth=apop", Spec{Proto: POP3, TLS: TLSNone, Host: "pop.example", Addr: "pop.example:110", User: "u", Auth: "apop"}},
		{"imaps://u@imap.example", Spec{Proto: IMAP, TLS: TLSImplicit, Host: "imap.example", Addr: "imap.example:993", User: "u", Folder: "INBOX"}},
		{"imaps://u@imap.example/Lists/go", Spec{Proto: IMAP, TLS: TLSImplicit, Host: "imap.example", Addr: "imap.example:993", User: "u", Folder: "Lists/go"}},
		{"imap://u@[::1]:1143/?starttls&all", Spec{Proto: IMAP, TLS: TLSStart, Host: "::1", Addr: "[::1]:1143", User: "u", All: true}},
	}
	for _, tt := range good {
		got, err := ParseURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
	bad := []struct{ url, want string }{
		{"http://u@h/", "scheme"},
		{"pop3s://h/", "no user"},
		{"pop3s://u:secret@h/", "no password in the URL"},
		{"ftp://u:secret@h/", "no password in the URL"},
		{"pop3s://u:secret@h:port/", "invalid port"},
		{"pop3://u@h/", "password in clear"},
		{"pop3s://u@h/?starttls", "TLS already"},
		{"pop3://u@h/?starttls&cleartext", "exclude"},
		{"pop3s://u@h/INBOX", "no folders"},
		{"imaps://u@h/INBOX?all", "not both"},
		{"imaps://u@h/?auth=apop", "login or plain"},
		{"imaps://u@h/?insecure", "unknown option"},
	}
	for _, tt := range bad {
		_, err := ParseURL(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) = %v, want an error with %q", tt.url, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the password: %v", tt.url, err)
		}
	}
}
