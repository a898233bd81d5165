package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// zraw is a line-level client that speaks COMPRESS=DEFLATE (RFC 4978)
// after the tagged OK: the Go client and imaplib have no COMPRESS.
type zraw struct {
	*raw
	zw *flate.Writer
}

// compress sends COMPRESS DEFLATE and, on OK, wraps both directions.
func (r *raw) compress() *zraw {
	r.t.Helper()
	_, status := r.cmd("COMPRESS DEFLATE")
	if !strings.HasPrefix(status, "OK") {
		r.t.Fatalf("COMPRESS DEFLATE: %s", status)
	}
	// The server's compressed output may already sit in r.r.
	r.r = bufio.NewReader(flate.NewReader(r.r))
	zw, _ := flate.NewWriter(r.conn, flate.DefaultCompression)
	z := &zraw{raw: r, zw: zw}
	r.conn = zconn{r.conn, zw}
	return z
}

// zconn compresses what the raw client sends, one sync flush per write.
type zconn struct {
	net.Conn
	zw *flate.Writer
}

func (c zconn) Write(p []byte) (int, error) {
	n, err := c.zw.Write(p)
	if err == nil {
		err = c.zw.Flush()
	}
	return n, err
}

// until reads untagged lines until want.
func (r *raw) until(want string) {
	r.t.Helper()
	for {
		l := r.line()
		if l == want {
			return
		}
		if !strings.HasPrefix(l, "* ") {
			r.t.Fatalf("waiting for %q: %q", want, l)
		}
	}
}

func TestCompressLoopback(t *testing.T) {
	e := newEnv(t, envOptions{})
	big := testMessage(3) + strings.Repeat("a line of body text that compresses well\r\n", 5000)
	e.deliver(testUser, testMessage(1), testMessage(2), big)
	r, _ := e.raw(e.addr)
	login(t, r)
	if lines, _ := r.cmd("CAPABILITY"); !hasCap(lines, "COMPRESS=DEFLATE") {
		t.Fatalf("loopback: no COMPRESS=DEFLATE in %q", lines)
	}
	if _, status := r.cmd("COMPRESS GZIP"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("COMPRESS GZIP: %s", status)
	}
	var counted countingConn
	counted.Conn = r.conn
	r.conn = &counted
	r.r = bufio.NewReader(&counted)
	z := r.compress()

	lines, status := z.cmd("SELECT INBOX")
	if !strings.HasPrefix(status, "OK") || !contains(lines, "* 3 EXISTS") {
		t.Fatalf("SELECT after COMPRESS: %q %s", lines, status)
	}
	before := counted.n
	// A literal spans many 32 KiB output buffers: each is one sync flush.
	z.send(fmt.Sprintf("t%d FETCH 3 BODY.PEEK[]", z.n+1))
	z.n++
	head := z.line()
	want := fmt.Sprintf("* 3 FETCH (BODY[] {%d}", len(big))
	if head != want {
		t.Fatalf("FETCH: %q, want %q", head, want)
	}
	body := make([]byte, len(big))
	if _, err := io.ReadFull(z.r, body); err != nil {
		t.Fatal(err)
	}
	if string(body) != big {
		t.Fatal("BODY[] differs from the delivered message")
	}
	if l := z.line(); l != ")" {
		t.Fatalf("after the literal: %q", l)
	}
	if l := z.line(); !strings.HasPrefix(l, fmt.Sprintf("t%d OK", z.n)) {
		t.Fatalf("FETCH status: %q", l)
	}
	if wire := counted.n - before; wire*10 > int64(len(big)) {
		t.Errorf("a %d-octet repetitive message took %d octets on the wire", len(big), wire)
	}
	if _, status := z.cmd("COMPRESS DEFLATE"); status != "NO [COMPRESSIONACTIVE] DEFLATE is already active" {
		t.Errorf("second COMPRESS: %s", status)
	}
	if lines, status := z.cmd("LOGOUT"); !contains(lines, "* BYE Logging out") || !strings.HasPrefix(status, "OK") {
		t.Errorf("LOGOUT: %q %s", lines, status)
	}
}

// An IDLE push must reach the client at once: the compressor is flushed
// with every flush of the session's output.
func TestCompressIdlePush(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1))
	r, _ := e.raw(e.addr)
	login(t, r)
	z := r.compress()
	if _, status := z.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Fatal(status)
	}
	z.send("i IDLE")
	if l := z.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	e.deliver(testUser, testMessage(2))
	// z.line waits at most 10 s; the store polls every 50 ms.
	z.until("* 2 EXISTS")
	z.send("DONE")
	z.until("i OK IDLE completed")
}

// Not on a cleartext link from elsewhere; after STARTTLS, yes (STARTTLS
// comes first: it is not valid once logged in).
func TestCompressNeedsTLS(t *testing.T) {
	e := newEnv(t, envOptions{remote: "192.0.2.7:4000", server: func(s *Server) { s.AllowPlaintext = true }})
	e.deliver(testUser, testMessage(1))
	r, _ := e.raw(e.addr)
	login(t, r)
	if lines, _ := r.cmd("CAPABILITY"); hasCap(lines, "COMPRESS=DEFLATE") {
		t.Errorf("cleartext non-loopback advertises COMPRESS: %q", lines)
	}
	if _, status := r.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(status, "NO [PRIVACYREQUIRED]") {
		t.Errorf("COMPRESS on cleartext: %s", status)
	}
	if _, status := r.cmd("NOOP"); !strings.HasPrefix(status, "OK") {
		t.Errorf("NOOP after refused COMPRESS: %s", status) // still uncompressed
	}

	r2, _ := e.raw(e.addr)
	if _, status := r2.cmd("STARTTLS"); !strings.HasPrefix(status, "OK") {
		t.Fatal(status)
	}
	tc := tls.Client(r2.conn, &tls.Config{InsecureSkipVerify: true})
	r2.conn, r2.r = tc, bufio.NewReader(tc)
	login(t, r2)
	if lines, _ := r2.cmd("CAPABILITY"); !hasCap(lines, "COMPRESS=DEFLATE") {
		t.Fatalf("after STARTTLS: no COMPRESS=DEFLATE in %q", lines)
	}
	z := r2.compress()
	if _, status := z.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Fatal(status)
	}
	lines, status := z.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
	if !strings.HasPrefix(status, "OK") || !contains(lines, "Subject: message 1") {
		t.Fatalf("FETCH over TLS+DEFLATE: %q %s", lines, status)
	}
}

type countingConn struct {
	net.Conn
	n int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += int64(n)
	return n, err
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// compressedSession logs in, turns COMPRESS on and then sends data as it
// is (a raw, possibly corrupt, DEFLATE stream) or, with deflate, data
// compressed properly (arbitrary commands inside a valid stream). It
// returns when the server closed the connection or after the client
// stopped sending and the server answered everything.
func compressedSession(t *testing.T, addr string, data []byte, deflate bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	_, _ = c.Write([]byte("a LOGIN alice@example.com \"correct horse\"\r\nb SELECT INBOX\r\nc COMPRESS DEFLATE\r\n"))
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("before COMPRESS: %v", err)
		}
		if strings.HasPrefix(l, "c ") {
			if !strings.HasPrefix(l, "c OK") {
				t.Fatalf("COMPRESS: %q", l)
			}
			break
		}
	}
	if deflate {
		var b bytes.Buffer
		zw, _ := flate.NewWriter(&b, flate.BestSpeed)
		_, _ = zw.Write(data)
		_ = zw.Flush()
		data = b.Bytes()
	}
	_, _ = c.Write(data)
	_ = c.(*net.TCPConn).CloseWrite()
	// Whatever comes back (it may be corrupt only if the server is
	// broken); the server must end the session, not hang or panic.
	if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		// A reset is a close with our input unread.
		t.Fatalf("server did not end the session: %v", err)
	}
}

// Random compressed input never panics the server nor hangs a session.
func TestCompressRandomInput(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.Logger = nil }})
	e.deliver(testUser, testMessage(1), testMessage(2), fuzzMultipart)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 60
	if testing.Short() {
		n = 15
	}
	for i := range n {
		var data []byte
		switch i % 3 {
		case 0: // noise
			data = make([]byte, rng.IntN(4096))
			for j := range data {
				data[j] = byte(rng.UintN(256))
			}
		case 1: // a valid stream of a seed, bit-flipped
			var b bytes.Buffer
			zw, _ := flate.NewWriter(&b, flate.BestSpeed)
			_, _ = zw.Write([]byte(fuzzSeeds[rng.IntN(len(fuzzSeeds))]))
			_ = zw.Flush()
			data = b.Bytes()
			if len(data) > 0 {
				data[rng.IntN(len(data))] ^= 1 << rng.UintN(8)
			}
		case 2: // a valid stream of random bytes and commands
			seed := fuzzSeeds[rng.IntN(len(fuzzSeeds))]
			data = []byte(seed[:rng.IntN(len(seed)+1)])
			for range rng.IntN(200) {
				data = append(data, byte(rng.UintN(256)))
			}
			compressedSession(t, e.addr, data, true)
			continue
		}
		compressedSession(t, e.addr, data, false)
	}
	if n := e.srv.RecoveredPanics(); n != 0 {
		t.Fatalf("%d sessions panicked", n)
	}
}

// FuzzCompress feeds arbitrary DEFLATE streams (mode 0) and arbitrary
// commands inside a valid stream (mode 1) to a compressed session.
func FuzzCompress(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(uint8(1), []byte(s))
	}
	f.Add(uint8(0), []byte{0x00, 0x00, 0x00, 0xff, 0xff, 0x03, 0x00})
	f.Add(uint8(0), []byte{0xff, 0xff, 0xff})
	e := newEnv(f, envOptions{server: func(s *Server) {
		s.Logger = nil
		s.IdleTimeout = 5 * time.Second
		s.LineTimeout = 5 * time.Second
	}})
	e.deliver(testUser, testMessage(1), fuzzMultipart)
	f.Fuzz(func(t *testing.T, mode uint8, data []byte) {
		compressedSession(t, e.addr, data, mode%2 == 1)
		if n := e.srv.RecoveredPanics(); n != 0 {
			t.Fatalf("session panicked on %q", data)
		}
	})
}

// TestMemoryPerCompressedIdleConnection measures what an idle connection
// with COMPRESS active costs (heap and stacks after GC; the client keeps
// only its socket): logged in, INBOX selected, IDLE running.
//
//	go test -run TestMemoryPerCompressedIdleConnection -v ./internal/imap
func TestMemoryPerCompressedIdleConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections")
	}
	e := newEnv(t, envOptions{server: func(s *Server) { s.Logger = nil }})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	const n = 200
	start := func() net.Conn {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(c, 16)
		_, _ = c.Write([]byte("a LOGIN alice@example.com \"correct horse\"\r\nb COMPRESS DEFLATE\r\n"))
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(l, "b OK") {
				break
			}
		}
		// The client's compressor and inflater are dropped once IDLE
		// runs: only the server's side is measured.
		zw, _ := flate.NewWriter(c, flate.BestSpeed)
		_, _ = zw.Write([]byte("c SELECT INBOX\r\nd IDLE\r\n"))
		_ = zw.Flush()
		zr := bufio.NewReader(flate.NewReader(br))
		for {
			l, err := zr.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(l, "+ ") {
				return c
			}
		}
	}
	per := memoryPerConn(n, start)
	t.Logf("memory per idle compressed IDLE connection: %d bytes (heap+stacks, server side)", per)
	if per > 64<<10 {
		t.Errorf("an idle compressed connection costs %d bytes, want at most 64 KiB", per)
	}
}

// The size of Go's compressor, which is why none is kept per idle
// connection (compress.go).
func TestCompressorSize(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations")
	}
	var ws []*flate.Writer
	before := liveMemory()
	for range 20 {
		w, _ := flate.NewWriter(io.Discard, compressLevel)
		ws = append(ws, w)
	}
	per := (int64(liveMemory()) - int64(before)) / 20
	t.Logf("one flate.Writer at level %d: %d bytes", compressLevel, per)
	runtime.KeepAlive(ws)
}

// RFC 4978 §3: the example's login sequence, lower-case commands
// included: STARTTLS, then COMPRESS before LOGIN (compressed, then
// encrypted), then LOGIN and SELECT inside both layers. The client here
// is not on loopback, so COMPRESS is offered only once TLS is active.
func TestRFC4978CompressExample(t *testing.T) {
	e := newEnv(t, envOptions{remote: "192.0.2.7:4000"})
	r, greeting := e.raw(e.addr)
	if !strings.Contains(greeting, " STARTTLS") || strings.Contains(greeting, "COMPRESS=DEFLATE") {
		t.Errorf("greeting on cleartext: %q", greeting)
	}
	r.send("a starttls")
	if l := r.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("a: %q", l)
	}
	tc := tls.Client(r.conn, &tls.Config{InsecureSkipVerify: true})
	r.conn, r.r = tc, bufio.NewReader(tc)
	// From this point on, everything is encrypted.
	if lines, _ := r.cmd("CAPABILITY"); !hasCap(lines, "COMPRESS=DEFLATE") {
		t.Errorf("after STARTTLS: no COMPRESS=DEFLATE in %q", lines)
	}
	r.send("b compress deflate")
	if l := r.line(); !strings.HasPrefix(l, "b OK") {
		t.Fatalf("b: %q", l)
	}
	// From this point on, everything is compressed before being
	// encrypted.
	r.r = bufio.NewReader(flate.NewReader(r.r))
	zw, _ := flate.NewWriter(r.conn, flate.DefaultCompression)
	r.conn = zconn{r.conn, zw}
	r.send(`c login alice@example.com "correct horse"`)
	if l := r.line(); !strings.HasPrefix(l, "c OK") {
		t.Fatalf("c: %q", l)
	}
	r.send("d select INBOX")
	var lines []string
	for {
		l := r.line()
		if strings.HasPrefix(l, "d ") {
			if !strings.HasPrefix(l, "d OK") {
				t.Fatalf("d: %q", l)
			}
			break
		}
		lines = append(lines, l)
	}
	if !has(lines, "* 0 EXISTS") || !has(lines, "* 0 RECENT") {
		t.Errorf("d select INBOX: %q", lines)
	}
	if _, status := r.cmd("COMPRESS DEFLATE"); !strings.HasPrefix(status, "NO [COMPRESSIONACTIVE]") {
		t.Errorf("a second COMPRESS: %s", status)
	}
}

// COMPRESS before LOGIN on loopback (no TLS needed there): STARTTLS after
// it is refused, as TLS cannot be slid under an active compression layer
// (RFC 4978 §3 wants compression above TLS whatever the order).
func TestCompressBeforeLoginThenStartTLS(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, greeting := e.raw(e.addr)
	if !strings.Contains(greeting, "COMPRESS=DEFLATE") {
		t.Errorf("greeting on loopback: %q", greeting)
	}
	z := r.compress()
	if _, status := z.cmd("STARTTLS"); !strings.HasPrefix(status, "BAD") {
		t.Errorf("STARTTLS after COMPRESS: %s", status)
	}
	login(t, z.raw)
	if _, status := z.cmd("NOOP"); !strings.HasPrefix(status, "OK") {
		t.Errorf("NOOP: %s", status)
	}
}
