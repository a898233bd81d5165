// Command bulkdeliver stores many messages into one Pochta account through
// the storage engine directly, with concurrent deliveries so the engine's
// group commit applies; with -from, it puts them on the outbound queue
// instead, each for the (remote) -to address, as submission would. It exists because `pochta deliver` starts a
// process (and an fsync) per message, which makes filling a
// 100,000-message benchmark maildrop take half an hour; the stored result
// is the same as `pochta deliver` produces. The store is the one DIR's
// pochta.toml names: SQLite in DIR (run it only while no `pochta serve`
// uses the directory) or PostgreSQL (store.engine = "postgres").
// Deliveries store messages unindexed, as they do in the server; then it
// indexes them for SEARCH (store.TextSearcher.IndexText, in batches of
// store.TextIndexBatch, as the server's background indexer does) and
// reports the time that took.
//
//	bulkdeliver -d DIR -to ADDRESS -src MSGDIR [-j 64] [-from SENDER]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pochta-mail/pochta/internal/config"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

func main() {
	dir := flag.String("d", "", "Pochta data directory")
	to := flag.String("to", "", "recipient address (an existing account)")
	src := flag.String("src", "", "directory of message files")
	jobs := flag.Int("j", 64, "concurrent deliveries")
	from := flag.String("from", "", "queue for remote delivery to -to, with this envelope sender")
	flag.Parse()
	if *dir == "" || *to == "" || *src == "" || *jobs < 1 {
		log.Fatal("usage: bulkdeliver -d DIR -to ADDRESS -src MSGDIR [-j N] [-from SENDER]")
	}
	if err := run(context.Background(), *dir, *to, *src, *from, *jobs); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dir, to, src, from string, jobs int) error {
	st, err := open(ctx, dir, jobs)
	if err != nil {
		return err
	}
	defer st.Close()
	var d store.Delivery
	if from != "" {
		d.Outbound = &store.Envelope{From: from, Recipients: []store.QueueRecipient{{Address: to}}}
	} else {
		acct, err := st.Account(ctx, to)
		if err != nil {
			return fmt.Errorf("%s: %w", to, err)
		}
		d.Recipients = []store.Recipient{{AccountID: acct.ID}}
	}
	files, err := filepath.Glob(filepath.Join(src, "*"))
	if err != nil {
		return err
	}
	start, cpu0 := time.Now(), cpuTime()
	next := make(chan string)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range jobs {
		wg.Go(func() {
			for f := range next {
				if err := deliver(ctx, st, d, f); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	for _, f := range files {
		if failed.Load() != nil {
			break
		}
		next <- f
	}
	close(next)
	wg.Wait()
	if p := failed.Load(); p != nil {
		return *p
	}
	fmt.Printf("delivered %d messages to %s in %.1fs, %.3f ms of this process's CPU per message\n",
		len(files), to, time.Since(start).Seconds(), float64(cpuTime()-cpu0)/1e6/float64(max(len(files), 1)))
	if ts, ok := st.(store.TextSearcher); ok {
		start, cpu0, total := time.Now(), cpuTime(), 0
		for {
			n, err := ts.IndexText(ctx, store.TextIndexBatch)
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			total += n
		}
		fmt.Printf("indexed %d messages in %.1fs, %.3f ms of this process's CPU per message\n",
			total, time.Since(start).Seconds(), float64(cpuTime()-cpu0)/1e6/float64(max(total, 1)))
	}
	return nil
}

// open opens the store of the installation in dir, with connections for
// the concurrent deliveries when it is PostgreSQL.
func open(ctx context.Context, dir string, jobs int) (store.Store, error) {
	cfg, err := config.Load(dir, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Store.Engine == config.EnginePostgres {
		return postgres.Open(ctx, cfg.Store.PostgresDSN, postgres.Options{MaxConns: int32(min(jobs, 64))})
	}
	return sqlite.Open(ctx, dir, sqlite.Options{})
}

func deliver(ctx context.Context, st store.Deliverer, d store.Delivery, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	d.Body = f
	if d.Outbound != nil {
		env := *d.Outbound // one each: the store may fill it in
		d.Outbound = &env
	}
	err = st.Deliver(ctx, d)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// cpuTime is the process's CPU time so far (user and system), in
// nanoseconds. With the SQLite engine that is all the store's work; with
// PostgreSQL the database's backends are not counted.
func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
