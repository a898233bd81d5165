// Command pochta-bench drives many concurrent POP3 sessions against any
// POP3 server and reports throughput and latency, checking every reply on
// the way (a fast wrong answer must not count as a fast answer).
//
// Modes:
//
//	sessions  USER/PASS, STAT, UIDL, LIST, QUIT, repeatedly: sessions/s
//	retr      log in, RETR every message (size and termination checked), QUIT;
//	          with -persist, log in once and repeat LIST and the RETRs
//	fetchdel  RETR+DELE every message of every account, QUIT; -refill between passes
//	idle      open -c connections, log in, hold them -hold long (for RSS readings)
//	stat100k  time login, STAT and UIDL on one large maildrop (the first account)
//	imapfetch, imapidle: the IMAP modes, see imap.go
//	smtp      send -size byte messages over SMTP to the accounts (smtp.go)
//
// Output is human text plus one line starting with "RESULT " of key=value
// pairs for scripts. Example:
//
//	pochta-bench -addr 127.0.0.1:11110 -mode retr -c 8 -duration 10s \
//	    -users 'u%d@bench.test' -nusers 8 -pass secret
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pochta-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	flags := flag.NewFlagSet("pochta-bench", flag.ContinueOnError)
	c := config{Out: out}
	flags.StringVar(&c.Dial.Addr, "addr", "127.0.0.1:110", "server `host:port`")
	flags.BoolVar(&c.Dial.TLS, "tls", false, "implicit TLS (POP3S); the certificate is not verified")
	flags.DurationVar(&c.Dial.Timeout, "timeout", 60*time.Second, "per-command timeout")
	flags.StringVar(&c.Mode, "mode", "sessions", "sessions, retr, fetchdel, idle, stat100k, imapfetch, imapidle or smtp")
	flags.IntVar(&c.Conc, "c", 8, "concurrent sessions (idle: connections to hold)")
	flags.IntVar(&c.N, "n", 0, "sessions to run (fetchdel: passes; stat100k: iterations); 0 = use -duration")
	flags.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to run when -n is 0")
	users := flags.String("users", "user%d@bench.test", "a file of \"login [password]\" lines, a login pattern with %d, or one login")
	nusers := flags.Int("nusers", 0, "with a pattern: logins 1..nusers (0 = one per concurrent session)")
	pass := flags.String("pass", "", "password for logins without one")
	flags.DurationVar(&c.Hold, "hold", 60*time.Second, "idle: how long to hold the connections")
	flags.BoolVar(&c.NoLogin, "nologin", false, "idle: do not log in")
	flags.StringVar(&c.Refill, "refill", "", "fetchdel: shell command that refills the maildrops between passes")
	flags.BoolVar(&c.Persist, "persist", false, "retr: log in once per worker and repeat LIST and the RETRs on that connection; imapfetch: the same with SELECT and the FETCHes")
	flags.StringVar(&c.Src, "src", "", "imapidle: comma-separated local IP addresses to dial from (past one address's ephemeral ports)")
	flags.IntVar(&c.Size, "size", 10240, "smtp: message size in octets")
	flags.StringVar(&c.From, "from", "bench@bench.test", "smtp: envelope sender")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if c.Conc < 1 {
		return errors.New("-c must be at least 1")
	}
	n := *nusers
	if n == 0 {
		n = c.Conc
	}
	var err error
	c.Accounts, err = loadAccounts(*users, n, *pass)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "pochta-bench: mode=%s addr=%s tls=%v c=%d accounts=%d\n",
		c.Mode, c.Dial.Addr, c.Dial.TLS, c.Conc, len(c.Accounts))
	switch c.Mode {
	case "sessions", "retr":
		once := sessionOnce
		switch {
		case c.Mode == "retr" && c.Persist:
			var closeAll func()
			once, closeAll = persistentRetr()
			defer closeAll()
		case c.Mode == "retr":
			once = retrOnce
		}
		t, elapsed := loop(ctx, &c, once)
		report(&c, t, elapsed)
	case "fetchdel":
		t, elapsed, err := fetchdel(ctx, &c)
		if err != nil {
			return err
		}
		report(&c, t, elapsed)
	case "idle":
		t, open := idle(ctx, &c)
		r := c.base()
		r.add("connections", open)
		r.add("errors", t.Errors)
		printErr(out, t.FirstErr)
		fmt.Fprintln(out, r.String())
	case "smtp":
		t, elapsed := smtpLoad(ctx, &c)
		report(&c, t, elapsed)
	case "stat100k":
		results, err := stat100k(&c)
		if err != nil {
			return err
		}
		reportStat(&c, results)
	case "imapfetch":
		once := imapFetchOnce
		if c.Persist {
			var closeAll func()
			once, closeAll = persistentFetch()
			defer closeAll()
		}
		t, elapsed := loop(ctx, &c, once)
		report(&c, t, elapsed)
	case "imapidle":
		t, open, err := imapIdle(ctx, &c)
		if err != nil {
			return err
		}
		r := c.base()
		r.add("connections", open)
		r.add("errors", t.Errors)
		printErr(out, t.FirstErr)
		fmt.Fprintln(out, r.String())
	default:
		return fmt.Errorf("unknown -mode %q", c.Mode)
	}
	return nil
}

// loadAccounts reads "login [password]" lines from the file named spec, or
// expands spec as a pattern with %d for 1..n, or else takes spec as the one
// login.
func loadAccounts(spec string, n int, pass string) ([]account, error) {
	if strings.Contains(spec, "%d") {
		out := make([]account, n)
		for i := range out {
			out[i] = account{User: fmt.Sprintf(spec, i+1), Pass: pass}
		}
		return out, nil
	}
	f, err := os.Open(spec)
	if errors.Is(err, fs.ErrNotExist) && !strings.Contains(spec, "/") {
		return []account{{User: spec, Pass: pass}}, nil // one plain login
	}
	if err != nil {
		return nil, fmt.Errorf("-users: %w", err)
	}
	defer f.Close()
	var out []account
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		a := account{User: fields[0], Pass: pass}
		if len(fields) > 1 {
			a.Pass = fields[1]
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no accounts", spec)
	}
	return out, nil
}

func (c *config) base() *resultLine {
	r := &resultLine{}
	r.add("mode", c.Mode)
	r.add("addr", c.Dial.Addr)
	r.add("c", c.Conc)
	return r
}

func printErr(out io.Writer, err error) {
	if err != nil {
		fmt.Fprintf(out, "first error: %v\n", err)
	}
}

func report(c *config, t *tally, elapsed time.Duration) {
	secs := elapsed.Seconds()
	r := c.base()
	r.add("secs", fmt.Sprintf("%.3f", secs))
	r.add("sessions", t.Sessions)
	r.add("messages", t.Messages)
	r.add("bytes", t.Bytes)
	r.add("errors", t.Errors)
	r.add("mismatches", t.Mismatches)
	r.add("sessions_per_s", fmt.Sprintf("%.1f", float64(t.Sessions)/secs))
	r.add("msgs_per_s", fmt.Sprintf("%.1f", float64(t.Messages)/secs))
	r.add("mb_per_s", fmt.Sprintf("%.2f", float64(t.Bytes)/secs/1e6))
	r.add("session_p50_ms", ms(percentile(t.SessionLat, 50)))
	r.add("session_p99_ms", ms(percentile(t.SessionLat, 99)))
	r.add("op_p50_ms", ms(percentile(t.OpLat, 50)))
	r.add("op_p99_ms", ms(percentile(t.OpLat, 99)))
	fmt.Fprintf(c.Out, "%d sessions, %d messages, %.1f MB in %.2fs, %d errors (%d size/termination mismatches)\n",
		t.Sessions, t.Messages, float64(t.Bytes)/1e6, secs, t.Errors, t.Mismatches)
	fmt.Fprintf(c.Out, "%.1f sessions/s, %.1f messages/s, %.2f MB/s\n",
		float64(t.Sessions)/secs, float64(t.Messages)/secs, float64(t.Bytes)/secs/1e6)
	printErr(c.Out, t.FirstErr)
	fmt.Fprintln(c.Out, r.String())
}

func reportStat(c *config, results []statResult) {
	var sessions, statUIDL []time.Duration
	for i, s := range results {
		fmt.Fprintf(c.Out, "iteration %d: %d messages, session %s ms (login %s ms, STAT+UIDL %s ms)\n",
			i+1, s.Count, ms(s.Session), ms(s.Login), ms(s.StatUIDL))
		sessions = append(sessions, s.Session)
		statUIDL = append(statUIDL, s.StatUIDL)
	}
	first := results[0]
	r := c.base()
	r.add("messages", first.Count)
	r.add("first_session_ms", ms(first.Session))
	r.add("first_stat_uidl_ms", ms(first.StatUIDL))
	r.add("session_p50_ms", ms(percentile(sessions, 50)))
	r.add("stat_uidl_p50_ms", ms(percentile(statUIDL, 50)))
	fmt.Fprintln(c.Out, r.String())
}
