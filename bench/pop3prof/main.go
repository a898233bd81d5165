// Command pop3prof serves POP3 (or, with -imap, IMAP) from a Pochta data
// directory as `pochta serve` wires it (the store of its pochta.toml, SQLite
// or PostgreSQL (store.engine), the auth service with its credentials
// cache, pop3.Server or imap.Server), on one loopback listener, and writes
// a CPU profile of the whole process. `pochta serve`
// has no profiling switch; this harness lets the benchmark explain where
// Pochta's time goes. Stop `pochta serve` on the directory first.
//
//	pop3prof -d DIR -addr 127.0.0.1:11310 -cpuprofile cpu.out [-imap]
//	# warm up, send SIGUSR1, drive it with pochta-bench, send SIGINT
//	go tool pprof -top bin/pop3prof cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"

	"github.com/pochta-mail/pochta/internal/auth"
	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/imap"
	"github.com/pochta-mail/pochta/internal/pop3"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func main() {
	dir := flag.String("d", "", "Pochta data directory")
	addr := flag.String("addr", "127.0.0.1:11310", "loopback address to serve POP3 on")
	cpu := flag.String("cpuprofile", "cpu.out", "CPU profile output file")
	logs := flag.Bool("log", false, "log at info level to stderr (pochta serve's default)")
	imapMode := flag.Bool("imap", false, "serve IMAP instead of POP3")
	flag.Parse()
	if *dir == "" {
		log.Fatal("usage: pop3prof -d DIR [-addr host:port] [-cpuprofile file]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *addr, *cpu, *logs, *imapMode); err != nil {
		log.Fatal(err)
	}
}

// connServer is what pop3.Server and imap.Server have in common.
type connServer interface {
	ServeConn(ctx context.Context, c net.Conn)
}

func run(ctx context.Context, dir, addr, cpuFile string, logs, imapMode bool) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if logs {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	st, err := openStore(ctx, dir, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	a := auth.New(auth.Options{Directory: st, Logger: logger, Separators: "+%"})
	var srv connServer = &pop3.Server{Hostname: "mail.bench.test", Auth: a, Maildrops: st, Logger: logger}
	if imapMode {
		srv = &imap.Server{Hostname: "mail.bench.test", Auth: a, Store: st, Logger: logger}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	f, err := os.Create(cpuFile)
	if err != nil {
		return err
	}
	defer f.Close()
	// Profiling starts at SIGUSR1, so a warm-up (filling the credentials
	// cache with argon2id work) can stay out of the profile.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		<-usr1
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Print(err)
		}
		fmt.Fprintf(os.Stderr, "pop3prof: profiling to %s\n", cpuFile)
	}()
	defer pprof.StopCPUProfile() // a no-op when profiling never started
	fmt.Fprintf(os.Stderr, "pop3prof: serving %s on %s; SIGUSR1 starts the profile, SIGINT ends\n", dir, addr)
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		wg.Go(func() {
			defer c.Close()
			srv.ServeConn(ctx, c)
		})
	}
	wg.Wait()
	return nil
}

// openStore opens the engine DIR's pochta.toml names, as serve does but
// without the background text indexer (a profile of RETR should not
// include it).
func openStore(ctx context.Context, dir string, logger *slog.Logger) (store.Store, error) {
	cfg, err := config.Load(dir, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Store.Engine == config.EnginePostgres {
		return postgres.Open(ctx, cfg.Store.PostgresDSN, postgres.Options{Logger: logger, LockLease: cfg.Store.LockLease.D()})
	}
	return sqlite.Open(ctx, dir, sqlite.Options{Logger: logger})
}
