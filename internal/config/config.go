// Package config holds Pochta's configuration: one typed struct, loaded from
// DIR/pochta.toml, with every default in Default and every key overridable
// from the command line (-o key=value).
//
// Keys are dotted: the TOML table and the key inside it, so `pop3.listen` is
// `listen` under `[pop3]`. The struct tags are the single source of truth:
// the loader, the -o overrides, the commented writer used by `pochta init`
// and the docs test all walk them by reflection, so a new key is one new
// field with a `toml` and a `doc` tag.
package config

import "time"

// Config is the whole configuration of one installation.
type Config struct {
	// Dir is the installation directory the file was loaded from. It is not
	// a key: relative paths in the file are resolved against it.
	Dir string `toml:"-"`

	Hostname string `toml:"hostname" doc:"Host name announced in greetings and used in CRAM-MD5 challenges. Empty means the system host name."`

	Log         Log         `toml:"log"`
	TLS         TLS         `toml:"tls"`
	POP3        POP3        `toml:"pop3"`
	POP3S       Listener    `toml:"pop3s" doc:"POP3 over implicit TLS (RFC 8314)."`
	IMAP        IMAP        `toml:"imap" doc:"IMAP4rev2/IMAP4rev1; STARTTLS is offered when TLS is configured."`
	IMAPS       Listener    `toml:"imaps" doc:"IMAP over implicit TLS (RFC 8314)."`
	SMTP        SMTP        `toml:"smtp" doc:"SMTP: the MX listener (mail for local domains, no relaying) and the options every SMTP listener shares."`
	Submission  Listener    `toml:"submission" doc:"Message submission (RFC 6409) with STARTTLS: AUTH required, only after TLS (loopback clients excepted unless auth.allow_plaintext)."`
	Submissions Listener    `toml:"submissions" doc:"Message submission over implicit TLS (RFC 8314): AUTH required."`
	HTTP        Listener    `toml:"http" doc:"Plain HTTP for mail clients and other servers: Thunderbird autoconfig, Outlook autodiscover, the Apple profile, the MTA-STS policy (see docs/HTTP.md)."`
	HTTPS       Listener    `toml:"https" doc:"The same HTTP side over implicit TLS, with the certificate of tls.cert."`
	Metrics     Listener    `toml:"metrics" doc:"Operator HTTP: Prometheus /metrics, /healthz and /readyz. Keep it on loopback or a private address: it is not authenticated."`
	MTASTS      MTASTS      `toml:"mta_sts" doc:"MTA-STS (RFC 8461): the policy published at https://mta-sts.DOMAIN/.well-known/mta-sts.txt for every local domain."`
	ManageSieve ManageSieve `toml:"managesieve" doc:"ManageSieve (RFC 5804): users upload and activate their Sieve filters (docs/SIEVE.md)."`
	Delivery    Delivery    `toml:"delivery" doc:"Recipient resolution and mailbox policy, shared by SMTP and pochta deliver."`
	Queue       Queue       `toml:"queue" doc:"Outbound delivery: the queue workers that send mail for remote recipients to their domains' MX hosts (or a route or smarthost), with retries and bounces."`
	Fetch       Fetch       `toml:"fetch" doc:"The fetcher: pochta serve brings the mail of remote POP3 and IMAP accounts (added with pochta fetch add) into local accounts."`
	DNS         DNS         `toml:"dns" doc:"Name resolution for outbound delivery (MX, A/AAAA) and inbound SPF, DKIM and DMARC checks (TXT)."`
	Auth        Auth        `toml:"auth"`
	Limits      Limits      `toml:"limits"`
	Shutdown    Shutdown    `toml:"shutdown"`
	Store       Store       `toml:"store" doc:"Where mail and accounts are kept: SQLite plus message files in DIR (one machine), or one PostgreSQL database shared by several pochta serve nodes (docs/POSTGRES.md)."`
}

// Store selects the storage engine.
type Store struct {
	Engine      string   `toml:"engine" doc:"sqlite (DIR/pochta.db and DIR/messages, the default) or postgres (everything in the database of store.postgres_dsn; every node of a cluster uses the same)."`
	LockLease   Duration `toml:"lock_lease" doc:"With store.engine = postgres: how long a POP3 maildrop lock outlives a node that died (its node renews it every third of this). From 3s to 5m; every node of a cluster should use the same."`
	PostgresDSN string   `toml:"postgres_dsn" doc:"With store.engine = postgres: the database, as a libpq URL or key=value string, e.g. postgres://pochta@db.example.net/pochta?sslmode=verify-full. A password in it is readable by whoever reads pochta.toml; prefer a .pgpass file or PGPASSWORD."`
}

// Store engines.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Log configures the server log (log/slog text on stderr).
type Log struct {
	Level  string `toml:"level" doc:"Minimum level logged: debug, info, warn or error."`
	Format string `toml:"format" doc:"Log line format on stderr: text (key=value) or json (one object per line)."`
}

// MTASTS configures the published MTA-STS policy.
type MTASTS struct {
	Mode   string   `toml:"mode" doc:"Policy mode published: testing (senders report failures but still deliver), enforce (senders refuse to deliver without valid TLS to an MX listed here: only with a certificate from a public CA), none (withdraws a policy), or empty to publish nothing."`
	MaxAge Duration `toml:"max_age" doc:"How long senders cache the policy (max_age); RFC 8461 suggests weeks. From 1h to 8760h."`
}

// TLS names the certificate served by every TLS listener (STLS and implicit
// TLS). SIGHUP reloads both files.
type TLS struct {
	Cert          string `toml:"cert" doc:"PEM certificate chain file; relative paths are resolved against DIR. Empty disables TLS (and so pop3s, imaps, STLS and STARTTLS)."`
	Key           string `toml:"key" doc:"PEM private key file for tls.cert; relative paths are resolved against DIR."`
	ACME          bool   `toml:"acme" doc:"Get certificates from an ACME CA (Let's Encrypt by default) instead of tls.cert/tls.key: for hostname and for autoconfig., autodiscover. and mta-sts. of every local domain, answering TLS-ALPN-01 on https.listen (port 443) and HTTP-01 on http.listen (port 80), kept in DIR/acme and renewed before expiry without a restart. Needs public DNS for those names pointing here."`
	ACMEEmail     string `toml:"acme_email" doc:"Contact address given to the ACME CA for expiry and policy notices; may be empty."`
	ACMEDirectory string `toml:"acme_directory" doc:"ACME directory URL of the CA. The default is Let's Encrypt's production directory; its staging directory (https://acme-staging-v02.api.letsencrypt.org/directory) is for trials."`
}

// TLSOn reports whether the server has certificates to serve (files or
// ACME).
func (c *Config) TLSOn() bool { return c.TLS.Cert != "" || c.TLS.ACME }

// Listener is a service that only has a listen address.
type Listener struct {
	Listen string `toml:"listen" doc:"Address to listen on, host:port; empty disables the listener."`
}

// IMAP configures the IMAP server (both imap and imaps).
type IMAP struct {
	Listen         string   `toml:"listen" doc:"Address of the plain IMAP listener (STARTTLS offered when TLS is configured), host:port; empty disables it."`
	IdleTimeout    Duration `toml:"idle_timeout" doc:"Autologout: how long a logged-in session (IDLE included) may wait for the client's next command; before login the wait is at most 3m. RFC 9051 requires at least 30m; a shorter value is accepted with a warning in the log. From 1s to 24h."`
	MaxBadCommands int      `toml:"max_bad_commands" doc:"Erroneous commands in a row tolerated in a session before it is closed with BYE."`
}

// POP3 configures the POP3 service, on the plain port (with STLS) and on the
// implicit-TLS port alike.
type POP3 struct {
	Listen         string   `toml:"listen" doc:"Address of the plain POP3 listener (STLS offered when TLS is configured), host:port; empty disables it."`
	IdleTimeout    Duration `toml:"idle_timeout" doc:"How long a session may wait for the client's next command. RFC 1939 requires at least 10m; a shorter value is accepted with a warning in the log."`
	LoginDelay     Duration `toml:"login_delay" doc:"Minimum time between logins of one account, announced as LOGIN-DELAY (RFC 2449). 0s announces none."`
	Expire         Expire   `toml:"expire" doc:"Days a retrieved message is kept before it is deleted: \"never\" or a number of days (at least 1). Announced as EXPIRE (RFC 2449) and enforced at login and by an hourly sweep."`
	EnableLast     bool     `toml:"enable_last" doc:"Accept the obsolete LAST command (RFC 1460) for old clients."`
	MaxBadCommands int      `toml:"max_bad_commands" doc:"Unknown or invalid commands tolerated in a session before it is closed."`
}

// SMTP configures the SMTP listeners.
type SMTP struct {
	Listen            string   `toml:"listen" doc:"Address of the MX listener (port 25: mail for local domains from anyone, STARTTLS offered when TLS is configured); empty disables it."`
	MaxRecipients     int      `toml:"max_recipients" doc:"Recipients accepted per message; more get 452 4.5.3 (the client sends them in another transaction)."`
	CommandTimeout    Duration `toml:"command_timeout" doc:"How long the server waits for the client's next command (RFC 5321 section 4.5.3.2.7: at least 5m)."`
	DataTimeout       Duration `toml:"data_timeout" doc:"How long the server waits for each block of message data during DATA or BDAT (RFC 5321 section 4.5.3.2.5: 3m)."`
	MaxLineLength     int      `toml:"max_line_length" doc:"Longest command or message line accepted, in octets; a longer one ends the session with 500 5.4.0. RFC 5321 allows 1000, but real mail has longer lines (Postfix accepts them), so the default is generous; the limit bounds the memory one command line takes."`
	BareNewline       string   `toml:"bare_newline" doc:"A line ending in a bare LF inside DATA: \"normalize\" (accept it as CRLF, Postfix 3.9's default for smtpd_forbid_bare_newline) or \"reject\" (refuse the message with 550 5.5.2). The end of data is only ever CRLF.CRLF."`
	MaxErrors         int      `toml:"max_errors" doc:"Refused commands (unknown users, bad syntax, failed AUTH...) tolerated in a session before it is closed with 421 4.7.0."`
	AuthChecks        bool     `toml:"auth_checks" doc:"Check mail arriving on the MX listener with SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) and record the results in an Authentication-Results header field (RFC 8601). Submission is never checked."`
	FromPolicy        string   `toml:"from_policy" doc:"Submission: which From: header addresses an authenticated account may send: \"account\" (its own address, its plus-addresses, or an alias that includes it, as for the envelope sender; anything else is refused with 550 5.7.1) or \"any\"."`
	RecipientsPerHour int      `toml:"recipients_per_hour" doc:"Submission: recipients one account may send to in any hour (counted per message accepted, local ones included, in the store: every server on the database together, and across restarts); past it RCPT gets 451 4.7.1 and the client retries later. 0 = unlimited."`
	DMARCReject       bool     `toml:"dmarc_reject" doc:"Refuse at DATA (550 5.7.1) a message that fails DMARC when its domain publishes p=reject. False only records dmarc=fail. Needs smtp.auth_checks."`
}

// Delivery configures recipient resolution and mailbox policy.
type Delivery struct {
	RecipientDelimiter string `toml:"recipient_delimiter" doc:"Characters that start a plus-address tag: mail to user+tag@domain goes to user@domain (unless an account or alias has the full address). Empty disables plus-addressing."`
	PlusFolders        bool   `toml:"plus_folders" doc:"Mail to user+tag@domain is kept in the account's mailbox named tag when it exists (INBOX otherwise; a tag never creates a mailbox). A Sieve script's keep goes there too."`
	SieveBefore        string `toml:"sieve_before" doc:"Operator's Sieve script run before every account's own (e.g. filing spam): when it does nothing but keep, the account's script runs, otherwise its decision stands. A file path, relative to DIR; empty for none. A script that does not compile stops serve and deliver."`
	QuotaTemporary     bool   `toml:"quota_temporary" doc:"Over-quota mail is refused temporarily (452 4.2.2, pochta deliver exits 75) so the sender retries; false refuses it permanently (552 5.2.2, exit 69)."`
}

// ManageSieve configures the ManageSieve service and the limits on
// users' Sieve scripts (the CLI applies the same limits).
type ManageSieve struct {
	Listen        string `toml:"listen" doc:"Address of the ManageSieve listener (STARTTLS offered when TLS is configured; AUTHENTICATE only over TLS or from loopback unless auth.allow_plaintext), host:port; empty disables it."`
	MaxScriptSize Size   `toml:"max_script_size" doc:"Largest Sieve script accepted, in octets."`
	MaxScripts    int    `toml:"max_scripts" doc:"Scripts one account may keep."`
}

// Fetch configures the fetcher of remote POP3/IMAP accounts.
type Fetch struct {
	Enabled   bool     `toml:"enabled" doc:"Run the fetcher in pochta serve. Off, sources are only fetched by pochta fetch run."`
	Interval  Duration `toml:"interval" doc:"Poll interval of the sources added without --interval; at least 1m. Failed runs back off, doubling it up to 1h."`
	IDLE      bool     `toml:"idle" doc:"Keep a connection in IMAP IDLE to sources whose server offers it (on INBOX for sources of every folder), so new mail arrives within seconds; the interval still bounds each wait."`
	Timeout   Duration `toml:"timeout" doc:"Bound on each network step of a fetch: connecting, one response, progress while a message streams."`
	TLSCAFile string   `toml:"tls_ca_file" doc:"PEM CA certificates trusted (besides the system's) when verifying the certificates of fetch sources (for a remote server with a private CA)."`
}

// Queue configures outbound delivery.
type Queue struct {
	Workers               int      `toml:"workers" doc:"Messages delivered at once, over all domains."`
	PerDomain             int      `toml:"per_domain" doc:"Connections to one destination domain at once (to the smarthost, when set). The bound adapts: a domain that answers 421, a 4xx to the greeting, MAIL or DATA, or cannot be reached gets half as many (at least one); successes add them back one at a time."`
	ConnectionMessages    int      `toml:"connection_messages" doc:"Messages one SMTP session to a next hop may carry. Sessions are reused: the next message to the same host (same address, same TLS policy) takes an idle session, starting with RSET, instead of connecting, greeting and negotiating TLS again."`
	ConnectionIdle        Duration `toml:"connection_idle" doc:"How long a reusable session to a next hop stays open without a message before it is closed with QUIT. At most queue.per_domain idle sessions are kept per next hop."`
	Lifetime              Duration `toml:"lifetime" doc:"How long a message is retried before it is bounced (RFC 5321 section 4.5.4.1 suggests 4-5 days)."`
	RetryBase             Duration `toml:"retry_base" doc:"Delay before the first retry after a temporary failure; it doubles with every further attempt, up to queue.retry_max. Each delay is shortened by a random part of up to a quarter, so messages that failed together do not return together."`
	RetryMax              Duration `toml:"retry_max" doc:"Longest delay between two attempts."`
	AttemptTimeout        Duration `toml:"attempt_timeout" doc:"Longest time one delivery attempt of a message may take (all its hosts). The message stays claimed a quarter longer: a crashed server's messages are retried after that."`
	PollInterval          Duration `toml:"poll_interval" doc:"How often the workers look for due messages; new submissions wake them at once."`
	RemotePort            int      `toml:"remote_port" doc:"TCP port of MX hosts. Only tests and labs change it; routes carry their own port."`
	Routes                string   `toml:"routes" doc:"Static next hops overriding MX, like Postfix transport maps: \"domain=host:port, domain=[192.0.2.1]:25\". A bracketed or bare IP is used without lookup; a host name is looked up by A/AAAA; the port defaults to queue.remote_port."`
	RequireTLS            string   `toml:"require_tls" doc:"Comma-separated domains whose mail must go over STARTTLS with a verified certificate; mail for them waits (and eventually bounces) otherwise. Elsewhere TLS is opportunistic: used when offered, certificate not checked."`
	MTASTS                bool     `toml:"mta_sts" doc:"Honour remote domains' MTA-STS policies (RFC 8461): for a domain publishing one in enforce mode, mail goes only to the MX hosts it lists, over STARTTLS with a verified certificate, and waits otherwise. The policy is fetched over HTTPS and cached for its max_age. Static routes and the smarthost are not affected."`
	TLSReports            bool     `toml:"tls_reports" doc:"Send TLS reports (RFC 8460): the queue counts its TLS sessions with every domain under an MTA-STS policy (queue.mta_sts), successes and failures by type, and once a day, a few minutes after 00:00 UTC, sends each such domain that publishes a _smtp._tls TXT record with a mailto: rua a gzipped JSON report, from tlsrpt-noreply@HOSTNAME with the null reverse-path, through the queue. Counts are kept in memory (a restart loses the day's). https: report URIs are not supported."`
	TLSCAFile             string   `toml:"tls_ca_file" doc:"PEM CA certificates trusted (besides the system's) when verifying queue.require_tls domains, the smarthost, and MTA-STS policy hosts and MX hosts."`
	Smarthost             string   `toml:"smarthost" doc:"Relay all remote mail through this host:port instead of MX (port 465: implicit TLS, else STARTTLS, required and verified either way). Empty delivers directly."`
	SmarthostUser         string   `toml:"smarthost_user" doc:"User name for AUTH PLAIN (or LOGIN) at the smarthost; empty sends no AUTH."`
	SmarthostPasswordFile string   `toml:"smarthost_password_file" doc:"File holding the smarthost password (first line), so it stays out of pochta.toml and the process list."`
}

// DNS configures name resolution.
type DNS struct {
	ZoneFile string `toml:"zone_file" doc:"Testing and offline aid: when set, every DNS lookup (MX, A/AAAA, TXT) is answered from this file of \"name TYPE data\" lines and nothing else; names not in it do not exist. Empty uses the system resolver."`
}

// Auth configures authentication for every protocol.
type Auth struct {
	AllowPlaintext  bool     `toml:"allow_plaintext" doc:"Allow USER/PASS and plaintext SASL over unencrypted connections from non-loopback clients. Keep false: plaintext passwords then need TLS (or a loopback client)."`
	CacheTTL        Duration `toml:"cache_ttl" doc:"How long a verified password is cached to skip the slow argon2id check. A changed or deleted password takes effect at once regardless. A negative value disables the cache."`
	DefaultDomain   string   `toml:"default_domain" doc:"Domain appended to logins that have none; empty means such logins fail."`
	LoginSeparators string   `toml:"login_separators" doc:"Characters accepted instead of @ between user and domain in logins (for clients that cannot send @); empty accepts only @."`
	HashMemory      Size     `toml:"hash_memory" doc:"Memory that concurrent argon2id password checks may hold at once (each new hash takes 64 MiB); more logins wait their turn, so a login flood cannot exhaust memory. Bytes or with a MiB/GiB suffix; at least one hash always runs, and at most one per CPU."`
	Legacy          bool     `toml:"legacy" doc:"Enable APOP and CRAM-MD5 server-wide. An account also needs a legacy secret (user add --legacy-auth), which is plaintext-equivalent: weaker, off by default."`
}

// Limits bounds resource use.
type Limits struct {
	MaxConnections      int      `toml:"max_connections" doc:"Maximum simultaneous connections over all listeners; more are refused politely. 0 = unlimited."`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip" doc:"Maximum simultaneous connections from one IP address. 0 = unlimited."`
	MaxMessageSize      Size     `toml:"max_message_size" doc:"Largest message accepted for delivery, in bytes or with a KiB/MiB/GiB suffix. pochta deliver refuses larger ones with exit code 69."`
	LineTimeout         Duration `toml:"line_timeout" doc:"Every protocol: once the client started sending (a command line, message data), how long the rest may take beyond one second per limits.min_data_rate octets. A client dripping one byte every few seconds is cut off after this. The wait for the first byte is the protocol's own idle timeout."`
	MinDataRate         Size     `toml:"min_data_rate" doc:"Every protocol: octets per second a client must keep up on average while it sends message data (DATA, BDAT, IMAP APPEND), after limits.line_timeout of grace. Bytes, or with a KiB/MiB suffix."`
	MaxSession          Duration `toml:"max_session" doc:"Every protocol: longest life of one connection, however busy; the session is then closed (SMTP 421 4.4.2, POP3 without deleting anything, IMAP and ManageSieve BYE). Clients reconnect. Must be at least 10m (RFC 1939's autologout and RFC 5321's timeouts are the floor)."`
}

// Shutdown configures the graceful stop on SIGTERM/SIGINT.
type Shutdown struct {
	Timeout Duration `toml:"timeout" doc:"How long serve waits for sessions to finish after SIGTERM before closing them."`
}

// Default returns the configuration used for every key the file does not
// set. It is the one place defaults live.
func Default() *Config {
	return &Config{
		Log:   Log{Level: "info", Format: "text"},
		TLS:   TLS{Cert: "cert.pem", Key: "key.pem", ACMEDirectory: "https://acme-v02.api.letsencrypt.org/directory"},
		POP3S: Listener{Listen: ":995"},
		IMAP:  IMAP{Listen: ":143", IdleTimeout: Duration(30 * time.Minute), MaxBadCommands: 20},
		IMAPS: Listener{Listen: ":993"},
		POP3: POP3{
			Listen:         ":110",
			IdleTimeout:    Duration(10 * time.Minute),
			LoginDelay:     0,
			Expire:         ExpireNever,
			MaxBadCommands: 10,
		},
		SMTP: SMTP{
			Listen:            ":25",
			MaxRecipients:     100,
			CommandTimeout:    Duration(5 * time.Minute),
			DataTimeout:       Duration(3 * time.Minute),
			MaxLineLength:     16384,
			BareNewline:       "normalize",
			MaxErrors:         20,
			AuthChecks:        true,
			FromPolicy:        "account",
			RecipientsPerHour: 1000,
		},
		Submission:  Listener{Listen: ":587"},
		Submissions: Listener{Listen: ":465"},
		HTTP:        Listener{Listen: ":80"},
		HTTPS:       Listener{Listen: ":443"},
		Metrics:     Listener{Listen: "127.0.0.1:9465"},
		MTASTS:      MTASTS{Mode: "testing", MaxAge: Duration(7 * 24 * time.Hour)},
		ManageSieve: ManageSieve{Listen: ":4190", MaxScriptSize: 64 << 10, MaxScripts: 20},
		Delivery:    Delivery{RecipientDelimiter: "+", QuotaTemporary: true},
		Fetch:       Fetch{Enabled: true, Interval: Duration(5 * time.Minute), IDLE: true, Timeout: Duration(time.Minute)},
		Queue: Queue{
			Workers:            64,
			PerDomain:          20,
			ConnectionMessages: 100,
			ConnectionIdle:     Duration(5 * time.Second),
			Lifetime:           Duration(5 * 24 * time.Hour),
			RetryBase:          Duration(5 * time.Minute),
			RetryMax:           Duration(4 * time.Hour),
			AttemptTimeout:     Duration(15 * time.Minute),
			PollInterval:       Duration(2 * time.Second),
			RemotePort:         25,
			MTASTS:             true,
			TLSReports:         true,
		},
		Auth: Auth{
			CacheTTL:        Duration(5 * time.Minute),
			LoginSeparators: "+%",
			HashMemory:      256 << 20,
		},
		Limits: Limits{
			MaxConnections:      10000,
			MaxConnectionsPerIP: 50,
			MaxMessageSize:      50 << 20,
			LineTimeout:         Duration(time.Minute),
			MinDataRate:         1 << 10,
			MaxSession:          Duration(time.Hour),
		},
		Shutdown: Shutdown{Timeout: Duration(30 * time.Second)},
		Store:    Store{Engine: EngineSQLite, LockLease: Duration(30 * time.Second)},
	}
}

// LocalPorts describes LocalProfile for people.
const LocalPorts = "SMTP 2525, submission 1587/1465, POP3 1110/1995, IMAP 1143/1993, HTTP 8080/8443, ManageSieve 4190, metrics 9465"

// LocalProfile puts every listener on loopback high ports, so Pochta runs
// without root and is reachable only from this machine (pochta init
// --local).
func LocalProfile(c *Config) {
	c.SMTP.Listen = "127.0.0.1:2525"
	c.Submission.Listen = "127.0.0.1:1587"
	c.Submissions.Listen = "127.0.0.1:1465"
	c.POP3.Listen = "127.0.0.1:1110"
	c.POP3S.Listen = "127.0.0.1:1995"
	c.IMAP.Listen = "127.0.0.1:1143"
	c.IMAPS.Listen = "127.0.0.1:1993"
	c.HTTP.Listen = "127.0.0.1:8080"
	c.HTTPS.Listen = "127.0.0.1:8443"
	c.Metrics.Listen = "127.0.0.1:9465"
	c.ManageSieve.Listen = "127.0.0.1:4190"
}
