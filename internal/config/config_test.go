package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriteRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	c := Default()
	c.Hostname = "mail.example.org"
	c.POP3.Expire = Expire{Days: 30}
	if err := Write(&buf, c); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(buf.String(), nil)
	if err != nil {
		t.Fatalf("parse written config: %v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, c)
	}
	for _, k := range Keys() {
		name := k[strings.LastIndex(k, ".")+1:]
		if !strings.Contains(buf.String(), "\n"+name+" = ") {
			t.Errorf("written file lacks key %s", k)
		}
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	c, err := Parse("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("got %+v", c)
	}
}

func TestParseValues(t *testing.T) {
	c, err := Parse(`
hostname = "mx.example.org"
[pop3]
idle_timeout = "15m"
expire = 7
enable_last = true
max_bad_commands = 3
[limits]
max_message_size = "10MiB"
[auth]
cache_ttl = "-1s"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.org" || c.POP3.IdleTimeout.D() != 15*time.Minute ||
		c.POP3.Expire != (Expire{Days: 7}) || !c.POP3.EnableLast || c.POP3.MaxBadCommands != 3 ||
		c.Limits.MaxMessageSize != 10<<20 || c.Auth.CacheTTL.D() != -time.Second {
		t.Fatalf("unexpected %+v", c)
	}
	if d, ok := c.POP3.Expire.Duration(); !ok || d != 7*24*time.Hour {
		t.Fatalf("expire duration %v %v", d, ok)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		overrides  []string
		want       string
	}{
		{"unknown top key", `nosuch = 1`, nil, "config: nosuch: unknown key"},
		{"unknown table", "[pop4]\nlisten = \":1\"", nil, "config: pop4: unknown table"},
		{"unknown key in table", "[pop3]\nlisen = \":1\"", nil, "config: pop3.lisen: unknown key"},
		{"nested table", "[pop3.x]\ny = 1", nil, "config: pop3.x: unknown table"},
		{"bad duration", "[pop3]\nidle_timeout = \"soon\"", nil, "config: pop3.idle_timeout: invalid duration"},
		{"wrong type", "[pop3]\nmax_bad_commands = \"many\"", nil, "config: pop3.max_bad_commands: want an integer"},
		{"string for bool", "[pop3]\nenable_last = \"yes\"", nil, "config: pop3.enable_last: want true or false"},
		{"bad expire", "[pop3]\nexpire = \"soon\"", nil, "config: pop3.expire: invalid value"},
		{"zero expire", "[pop3]\nexpire = 0", nil, "config: pop3.expire: invalid value"},
		{"bad level", "[log]\nlevel = \"loud\"", nil, "config: log.level:"},
		{"bad listen", "[pop3]\nlisten = \"nonsense\"", nil, "config: pop3.listen:"},
		{"bad port", "[pop3]\nlisten = \":99999\"", nil, "config: pop3.listen:"},
		{"hostname listen", "[pop3]\nlisten = \"example.org:110\"", nil, "config: pop3.listen:"},
		{"submissions without TLS", "", []string{"tls.cert=", "tls.key=", "pop3s.listen=", "imaps.listen=", "https.listen="}, "config: submissions.listen: implicit TLS needs"},
		{"https without TLS", "", []string{"tls.cert=", "tls.key=", "pop3s.listen=", "imaps.listen=", "submissions.listen="}, "config: https.listen: HTTPS needs"},
		{"bad log format", "[log]\nformat = \"xml\"", nil, "config: log.format:"},
		{"bad mta-sts mode", "[mta_sts]\nmode = \"strict\"", nil, "config: mta_sts.mode:"},
		{"short mta-sts max_age", "[mta_sts]\nmax_age = \"1m\"", nil, "config: mta_sts.max_age: must be from 1h"},
		{"bare newline", "", []string{"smtp.bare_newline=allow"}, "config: smtp.bare_newline:"},
		{"line length", "[smtp]\nmax_line_length = 998", nil, "config: smtp.max_line_length: must be at least 1000"},
		{"zero idle", "[pop3]\nidle_timeout = \"0s\"", nil, "config: pop3.idle_timeout: must be positive"},
		{"negative limit", "[limits]\nmax_connections = -1", nil, "config: limits.max_connections: must not be negative"},
		{"cert without key", "[tls]\nkey = \"\"", nil, "config: tls.cert: tls.cert and tls.key must be set together"},
		{"pop3s without tls", "[tls]\nkey = \"\"\ncert = \"\"", nil, "config: pop3s.listen: implicit TLS needs"},
		{"override unknown", "", []string{"pop3.nosuch=1"}, "config: pop3.nosuch: unknown key"},
		{"override bad int", "", []string{"limits.max_connections=lots"}, "config: limits.max_connections: want an integer"},
		{"override no equals", "", []string{"pop3.listen"}, "want key=value"},
		{"bad size", "[limits]\nmax_message_size = \"big\"", nil, "config: limits.max_message_size: invalid size"},
		{"short session", "", []string{"limits.max_session=9m"}, "config: limits.max_session: must be at least 10m0s (RFC 1939"},
		{"bad hash memory", "", []string{"auth.hash_memory=lots"}, "config: auth.hash_memory:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file, tc.overrides)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestOverridesWin(t *testing.T) {
	c, err := Parse("[pop3]\nlisten = \":1110\"\n", []string{
		"pop3.listen=127.0.0.1:0",
		"pop3.enable_last=true",
		"limits.max_connections_per_ip=3",
		"pop3.expire=never",
		"pop3s.listen=",
		"hostname=a=b", // only the first '=' separates
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.POP3.Listen != "127.0.0.1:0" || !c.POP3.EnableLast || c.Limits.MaxConnectionsPerIP != 3 ||
		!c.POP3.Expire.Never || c.POP3S.Listen != "" {
		t.Fatalf("overrides not applied: %+v", c)
	}
	if c.Hostname != "a=b" {
		t.Fatalf("hostname %q", c.Hostname)
	}
}

// Every key settable through -o: proves the reflection covers all types.
func TestEveryKeyOverridable(t *testing.T) {
	for _, k := range Keys() {
		c := Default()
		v, err := c.Get(k)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Override([]string{k + "=" + v}); err != nil {
			t.Errorf("-o %s=%s: %v", k, v, err)
		}
	}
}

func TestIdleTimeoutBelowRFCWarns(t *testing.T) {
	c, err := Parse("", []string{"pop3.idle_timeout=1m"})
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || !strings.Contains(w[0], "RFC 1939") {
		t.Fatalf("warnings %q", w)
	}
	if w := Default().Warnings(); len(w) != 0 {
		t.Fatalf("defaults warn: %q", w)
	}
}

func TestLoadResolvesPathsAndChecksFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "pochta init") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("[tls]\ncert = \"c.pem\"\nkey = \"/abs/k.pem\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Path(c.TLS.Cert); got != filepath.Join(dir, "c.pem") {
		t.Fatalf("cert path %q", got)
	}
	if got := c.Path(c.TLS.Key); got != "/abs/k.pem" {
		t.Fatalf("key path %q", got)
	}
	if err := c.ValidateFiles(); err == nil || !strings.Contains(err.Error(), "config: tls.") {
		t.Fatalf("ValidateFiles: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("[pop3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), FileName) {
		t.Fatalf("syntax error should name the file: %v", err)
	}
}

func TestSizeText(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "1024": 1024, "1KiB": 1024, "50MiB": 50 << 20, "2g": 2 << 30, "7 MB": 7 << 20} {
		var s Size
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("%q: got %d, %v; want %d", in, s, err, want)
		}
	}
	if b, _ := Size(50 << 20).MarshalText(); string(b) != "50MiB" {
		t.Errorf("marshal 50MiB: %s", b)
	}
	if b, _ := Size(1000).MarshalText(); string(b) != "1000" {
		t.Errorf("marshal 1000: %s", b)
	}
}

// docs/CONFIG.md must document every key, with its default.
func TestConfigDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fields() {
		def := tomlValue(reflect.ValueOf(Default()).Elem().FieldByIndex(f.index))
		row := "| `" + f.Key + "` | `" + def + "` |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/CONFIG.md lacks the row starting %s", row)
		}
	}
}
