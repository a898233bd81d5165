// Command pgbodylayout measures what a PostgreSQL backend spends sending
// message bodies stored in two layouts, to weigh a change of the
// PostgreSQL engine's body_chunks (docs/BENCHMARKS.md):
//
//   - toast: a body of up to 256 KiB in one row, its value out of line in
//     TOAST (STORAGE EXTERNAL), as the engine stores it today;
//   - heap: the body in rows of 8,000 octets, each kept in its heap page
//     (toast_tuple_target = 8160), no TOAST.
//
// Each statement reads 45 bodies chosen at random (about what one POP3
// read-ahead batch holds), in the forms a reader could use: every row of
// the bodies as rows ("rows"), and one value per body as the engine's
// listings read it, a scalar subquery ("scalar": the TOAST value itself;
// for heap rows, glued by ARRAY(...) or string_agg). The result is the
// backend's CPU time (user+system, from /proc) per body of the sample's
// mean size, with the client's own CPU beside it; medians over rounds in
// which the forms take turns.
//
//	pgbodylayout -dir MSGS [-dsn DSN] [-copies 20] [-rounds 5] [-duration 2s]
//
// MSGS is a genmail directory (*.eml). The server must be on this machine
// (its backend's /proc entry is read). The tables go into a schema of
// their own, dropped at the end. A manual tool, not part of `go test`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/proccpu"
)

// pieceSize is the heap layout's row size: with the row's header and its
// other columns it stays under toast_tuple_target, so PostgreSQL keeps it
// in the page instead of moving it to TOAST.
const pieceSize = 8000

// batch is how many bodies one statement reads.
const batch = 45

// form is one way of reading a batch: a statement whose rows' first
// column holds body octets ($1 the body ids).
type form struct {
	name, sql string
}

func forms(schema string) []form {
	r := strings.NewReplacer("S.", schema+".")
	return []form{
		{"toast rows", r.Replace(`SELECT data FROM S.toast WHERE body_id = ANY($1)`)},
		{"toast scalar", r.Replace(`SELECT (SELECT data FROM S.toast t WHERE t.body_id = b.id AND t.seq = 0) FROM unnest($1::bigint[]) AS b(id)`)},
		{"heap rows", r.Replace(`SELECT data FROM S.heap WHERE body_id = ANY($1) ORDER BY body_id, seq`)},
		{"heap ARRAY", r.Replace(`SELECT ARRAY(SELECT data FROM S.heap h WHERE h.body_id = b.id ORDER BY h.seq) FROM unnest($1::bigint[]) AS b(id)`)},
		{"heap string_agg", r.Replace(`SELECT (SELECT string_agg(data, ''::bytea ORDER BY h.seq) FROM S.heap h WHERE h.body_id = b.id) FROM unnest($1::bigint[]) AS b(id)`)},
	}
}

func main() {
	dsn := flag.String("dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "database to make the scratch schema in (on this machine)")
	dir := flag.String("dir", "", "genmail directory of *.eml bodies")
	copies := flag.Int("copies", 20, "times each body is stored")
	rounds := flag.Int("rounds", 5, "rounds; the forms take turns in each")
	duration := flag.Duration("duration", 2*time.Second, "time per form and round")
	flag.Parse()
	if *dir == "" || *rounds < 1 {
		log.Fatal("usage: pgbodylayout -dir MSGS [-dsn DSN] [-copies N] [-rounds N] [-duration D]")
	}
	bodies, err := readBodies(*dir)
	if err != nil {
		log.Fatal(err)
	}
	if len(bodies)**copies < batch {
		log.Fatalf("%d bodies stored (-copies x %d files) are fewer than one statement's %d", len(bodies)**copies, len(bodies), batch)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, *dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("pochta_bodylayout_%d", os.Getpid())
	if err := load(ctx, conn, schema, bodies, *copies); err != nil {
		_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
		log.Fatal(err)
	}
	defer func() {
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			log.Print(err)
		}
	}()
	var toastBytes, heapBytes int64
	if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size($1::regclass), pg_total_relation_size($2::regclass)`,
		schema+".toast", schema+".heap").Scan(&toastBytes, &heapBytes); err != nil {
		log.Fatal(err)
	}
	var mean float64
	for _, b := range bodies {
		mean += float64(len(b))
	}
	mean /= float64(len(bodies))
	fmt.Printf("%d bodies (%d distinct, mean %.0f octets); on disk: toast %d MB, heap %d MB\n",
		len(bodies)**copies, len(bodies), mean, toastBytes>>20, heapBytes>>20)
	if err := measure(ctx, conn, forms(schema), len(bodies)**copies, mean, *rounds, *duration); err != nil {
		log.Print(err)
	}
}

func readBodies(dir string) ([][]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no *.eml in %s", dir)
	}
	var bodies [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, b)
	}
	return bodies, nil
}

// load makes the schema and stores every body copies times in both
// layouts, then checks that the heap layout really kept its rows out of
// TOAST (else the comparison would be of nothing).
func load(ctx context.Context, conn *pgx.Conn, schema string, bodies [][]byte, copies int) error {
	for _, q := range []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + schema + `.toast (body_id bigint, seq integer, data bytea NOT NULL, PRIMARY KEY (body_id, seq))`,
		`ALTER TABLE ` + schema + `.toast ALTER COLUMN data SET STORAGE EXTERNAL`,
		`CREATE TABLE ` + schema + `.heap (body_id bigint, seq integer, data bytea NOT NULL, PRIMARY KEY (body_id, seq)) WITH (toast_tuple_target = 8160)`,
		`ALTER TABLE ` + schema + `.heap ALTER COLUMN data SET STORAGE EXTERNAL`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	for id := range len(bodies) * copies {
		body := bodies[id%len(bodies)]
		var pieces [][]byte
		for off := 0; off < len(body); off += pieceSize {
			pieces = append(pieces, body[off:min(len(body), off+pieceSize)])
		}
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO `+schema+`.toast VALUES ($1, 0, $2)`, id, body)
		b.Queue(`INSERT INTO `+schema+`.heap SELECT $1, p.n - 1, p.data FROM unnest($2::bytea[]) WITH ORDINALITY AS p(data, n)`, id, pieces)
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+schema+`.toast, `+schema+`.heap`); err != nil {
		return err
	}
	var outOfLine int64
	if err := conn.QueryRow(ctx, `SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = $1::regclass`,
		schema+".heap").Scan(&outOfLine); err != nil {
		return err
	}
	if outOfLine > 0 {
		return errors.New("heap layout: rows went to TOAST anyway")
	}
	return nil
}

// measure runs the forms in turn, rounds times, and prints each form's
// median backend and client CPU per body of the mean size.
func measure(ctx context.Context, conn *pgx.Conn, fs []form, n int, mean float64, rounds int, d time.Duration) error {
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ids := func() []int64 {
		out := make([]int64, 0, batch)
		for _, i := range rng.Perm(n)[:batch] {
			out = append(out, int64(i))
		}
		return out
	}
	serverUS := make([][]float64, len(fs))
	clientUS := make([][]float64, len(fs))
	for range rounds {
		for k, f := range fs {
			s0, err := proccpu.Of(backend)
			if err != nil {
				return fmt.Errorf("the backend's CPU time (is the server on this machine?): %w", err)
			}
			c0 := selfCPU()
			octets := 0
			for start := time.Now(); time.Since(start) < d; {
				rows, _ := conn.Query(ctx, f.sql, ids())
				for rows.Next() {
					octets += len(rows.RawValues()[0])
				}
				if err := rows.Err(); err != nil {
					return fmt.Errorf("%s: %w", f.name, err)
				}
			}
			s1, err := proccpu.Of(backend)
			if err != nil {
				return err
			}
			perBody := mean / float64(octets) * 1e6
			serverUS[k] = append(serverUS[k], (s1-s0).Seconds()*perBody)
			clientUS[k] = append(clientUS[k], (selfCPU()-c0)*perBody)
		}
	}
	fmt.Printf("%-16s %22s %22s\n", "form", "backend µs per body", "client µs per body")
	for k, f := range fs {
		fmt.Printf("%-16s %22.1f %22.1f\n", f.name, median(serverUS[k]), median(clientUS[k]))
	}
	return nil
}

func selfCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
