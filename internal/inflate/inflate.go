// Package inflate decodes a raw DEFLATE stream (RFC 1951) as it arrives
// on a connection, for IMAP COMPRESS=DEFLATE (RFC 4978).
//
// Why not compress/flate: its reader keeps decoded bytes in its window
// until the window is full, a stored block arrives or the stream ends. A
// client that flushes with zlib's Z_PARTIAL_FLUSH (isync/mbsync does) ends
// its command with the end of a Huffman block and an empty fixed-code
// block, no stored block: compress/flate then holds the command and
// blocks reading for more input that the client will only send after the
// answer. This Reader hands over everything decoded at the end of every
// block, and otherwise reads input only when it has nothing to return, so
// any flush that ends a block (partial, sync or full) delivers the data.
//
// It reads its input one byte at a time through an io.ByteReader (a
// bufio.Reader over the connection) and never asks for a byte it does not
// need yet. Memory: the 32 KiB window and the code tables, about 34 KiB.
package inflate

import (
	"errors"
	"io"
)

// ErrCorrupt reports input that is not a valid DEFLATE stream.
var ErrCorrupt = errors.New("inflate: corrupt input")

const (
	windowSize = 1 << 15
	windowMask = windowSize - 1
	maxBits    = 15 // longest Huffman code
	maxLit     = 288
	maxDist    = 30
)

// tableBits is how many bits the fast decoding table looks at.
const tableBits = 9

// huffman is a canonical Huffman code: how many codes there are of each
// length, and the symbols ordered by code; table decodes the codes of up
// to tableBits bits in one step (entry: symbol<<4 | length; 0 = longer).
type huffman struct {
	count  [maxBits + 1]uint16
	symbol [maxLit]uint16
	table  [1 << tableBits]uint16
}

// build makes h from code lengths (0 = symbol unused). It fails for an
// over-subscribed code, and for an incomplete one unless it has a single
// code (RFC 1951 allows one distance code of one bit) or it is one of
// the fixed codes (whose distance code has 30 of 32 codes).
func (h *huffman) build(lengths []uint8, fixed bool) error {
	h.count = [maxBits + 1]uint16{}
	for _, l := range lengths {
		h.count[l]++
	}
	if int(h.count[0]) == len(lengths) {
		return nil // no codes: only an error if a symbol is decoded
	}
	left := 1
	for l := 1; l <= maxBits; l++ {
		left <<= 1
		left -= int(h.count[l])
		if left < 0 {
			return ErrCorrupt
		}
	}
	if left > 0 && !fixed && len(lengths)-int(h.count[0]) != 1 {
		return ErrCorrupt
	}
	var offs [maxBits + 2]uint16
	for l := 1; l <= maxBits; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = uint16(sym)
			offs[l]++
		}
	}
	// Canonical codes (RFC 1951 §3.2.2), bit-reversed: the stream sends
	// a code's most significant bit first.
	h.table = [1 << tableBits]uint16{}
	var next [maxBits + 1]int
	code := 0
	for l := 1; l <= maxBits; l++ {
		if l > 1 {
			code = (code + int(h.count[l-1])) << 1
		}
		next[l] = code
	}
	for sym, l := range lengths {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		if l > tableBits {
			continue
		}
		r := 0
		for i := range l {
			r |= (c >> i & 1) << (l - 1 - i)
		}
		for k := r; k < 1<<tableBits; k += 1 << l {
			h.table[k] = uint16(sym<<4) | uint16(l)
		}
	}
	return nil
}

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// The order of the code length code lengths (RFC 1951 §3.2.7).
	clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// fixedLit and fixedDist are the codes of RFC 1951 §3.2.6.
var fixedLit, fixedDist = func() (*huffman, *huffman) {
	var l [maxLit]uint8
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	var d [maxDist]uint8
	for i := range d {
		d[i] = 5
	}
	lit, dist := new(huffman), new(huffman)
	if lit.build(l[:], true) != nil || dist.build(d[:], true) != nil {
		panic("inflate: fixed codes")
	}
	return lit, dist
}()

type blockState uint8

const (
	stHeader blockState = iota // before a block's header
	stStored                   // inside a stored block
	stCodes                    // inside a Huffman block
	stDone                     // after the final block
)

// Reader decodes a raw DEFLATE stream.
type Reader struct {
	src      io.ByteReader
	buffered interface{ Buffered() int } // src's, when it tells (bufio.Reader)
	bits     uint64                      // input bits not used yet, the next one lowest
	nbits    uint
	err      error

	win    [windowSize]byte
	wpos   int   // where the next output byte goes in win
	unread int   // decoded bytes not yet returned, ending at wpos
	total  int64 // bytes decoded so far (back-references may not reach before 0)

	state          blockState
	final          bool // the current block is the last
	stored         int  // bytes left in a stored block
	copyLen        int  // bytes left of a back-reference
	copyDist       int
	lit, dist      *huffman
	dynLit, dynDst huffman
}

// NewReader returns a Reader of the DEFLATE stream in src.
// If src has a Buffered method (bufio.Reader), bytes it already holds
// are taken ahead, which never blocks; other bytes only when needed.
func NewReader(src io.ByteReader) *Reader {
	z := &Reader{src: src}
	z.buffered, _ = src.(interface{ Buffered() int })
	return z
}

// fill takes into the bit buffer the bytes src holds already.
func (z *Reader) fill() {
	if z.buffered == nil {
		return
	}
	for z.nbits <= 56 && z.buffered.Buffered() > 0 {
		c, err := z.src.ReadByte()
		if err != nil {
			return // cannot happen with bytes buffered; need sees it again
		}
		z.bits |= uint64(c) << z.nbits
		z.nbits += 8
	}
}

// need makes sure n (at most 32) bits are buffered, blocking for input
// only when they are not.
func (z *Reader) need(n uint) error {
	for z.nbits < n {
		c, err := z.src.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		z.bits |= uint64(c) << z.nbits
		z.nbits += 8
	}
	return nil
}

// getBits returns the next n bits (n at most 16).
func (z *Reader) getBits(n uint) (int, error) {
	if err := z.need(n); err != nil {
		return 0, err
	}
	v := int(z.bits & (1<<n - 1))
	z.bits >>= n
	z.nbits -= n
	return v, nil
}

// decode reads one symbol of h: by table when the bits of a short code
// are at hand, else a bit at a time (RFC 1951 §3.1.1: codes start with
// their most significant bit).
func (z *Reader) decode(h *huffman) (int, error) {
	if z.nbits < tableBits {
		z.fill()
	}
	if e := h.table[z.bits&(1<<tableBits-1)]; e != 0 && uint(e&15) <= z.nbits {
		z.bits >>= e & 15
		z.nbits -= uint(e & 15)
		return int(e >> 4), nil
	}
	code, first, index := 0, 0, 0
	for l := 1; l <= maxBits; l++ {
		b, err := z.getBits(1)
		if err != nil {
			return 0, err
		}
		code |= b
		count := int(h.count[l])
		if code-count < first {
			return int(h.symbol[index+code-first]), nil
		}
		index += count
		first = (first + count) << 1
		code <<= 1
	}
	return 0, ErrCorrupt
}

// Read returns decoded bytes. It blocks for input only while it has none
// to return, and returns at the end of every block.
func (z *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for z.unread == 0 {
		if z.err != nil {
			return 0, z.err
		}
		z.err = z.step(len(p))
		if z.err == nil && z.state == stDone && z.unread == 0 {
			z.err = io.EOF
		}
	}
	n := 0
	for n < len(p) && z.unread > 0 {
		start := (z.wpos - z.unread) & windowMask
		end := start + z.unread
		if end > windowSize {
			end = windowSize
		}
		c := copy(p[n:], z.win[start:end])
		n += c
		z.unread -= c
	}
	return n, nil
}

// put appends a decoded byte to the window.
func (z *Reader) put(b byte) {
	z.win[z.wpos] = b
	z.wpos = (z.wpos + 1) & windowMask
	z.unread++
	z.total++
}

// full reports whether decoding must pause: the window holds only unread
// bytes, or the caller's buffer is already covered.
func (z *Reader) full(want int) bool {
	return z.unread == windowSize || z.unread >= want
}

// step decodes until a block ends with output to return, the output
// covers want, the window is full, or the stream ends.
func (z *Reader) step(want int) error {
	for {
		switch z.state {
		case stDone:
			return nil
		case stHeader:
			if err := z.header(); err != nil {
				return err
			}
		case stStored:
			for z.stored > 0 {
				if z.full(want) {
					return nil
				}
				c, err := z.src.ReadByte()
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return err
				}
				z.put(c)
				z.stored--
			}
			if z.endBlock() {
				return nil
			}
		case stCodes:
			done, err := z.codes(want)
			if err != nil || !done {
				return err
			}
			if z.endBlock() {
				return nil
			}
		}
	}
}

// endBlock moves past a finished block and reports whether Read should
// return what it has.
func (z *Reader) endBlock() bool {
	z.state = stHeader
	if z.final {
		z.state = stDone
	}
	return z.unread > 0 || z.state == stDone
}

// header reads a block header (RFC 1951 §3.2.3) and, for a stored block,
// its length; for a dynamic one, its codes.
func (z *Reader) header() error {
	h, err := z.getBits(3)
	if err != nil {
		return err
	}
	z.final = h&1 == 1
	switch h >> 1 {
	case 0:
		// Stored (§3.2.4): skip to the byte boundary, then LEN, NLEN.
		z.bits >>= z.nbits & 7
		z.nbits -= z.nbits & 7
		n, err := z.getBits(16)
		if err != nil {
			return err
		}
		nn, err := z.getBits(16)
		if err != nil {
			return err
		}
		if n != ^nn&0xffff {
			return ErrCorrupt
		}
		z.stored, z.state = n, stStored
		// The bit buffer is empty now: need reads whole bytes and the
		// 32 bits of LEN and NLEN started on a byte boundary.
		return nil
	case 1:
		z.lit, z.dist = fixedLit, fixedDist
	case 2:
		if err := z.dynamic(); err != nil {
			return err
		}
		z.lit, z.dist = &z.dynLit, &z.dynDst
	default:
		return ErrCorrupt
	}
	z.state = stCodes
	return nil
}

// dynamic reads the codes of a dynamic block (RFC 1951 §3.2.7).
func (z *Reader) dynamic() error {
	nlen, err := z.getBits(5)
	if err != nil {
		return err
	}
	ndist, err := z.getBits(5)
	if err != nil {
		return err
	}
	ncode, err := z.getBits(4)
	if err != nil {
		return err
	}
	nlen, ndist, ncode = nlen+257, ndist+1, ncode+4
	if nlen > 286 || ndist > maxDist {
		return ErrCorrupt
	}
	var lengths [maxLit + maxDist]uint8
	for i := range ncode {
		l, err := z.getBits(3)
		if err != nil {
			return err
		}
		lengths[clOrder[i]] = uint8(l)
	}
	var cl huffman
	if err := cl.build(lengths[:19], false); err != nil {
		return err
	}
	clear(lengths[:19])
	for i := 0; i < nlen+ndist; {
		sym, err := z.decode(&cl)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return ErrCorrupt
			}
			val = lengths[i-1]
			rep, err = z.getBits(2)
			rep += 3
		case 17:
			rep, err = z.getBits(3)
			rep += 3
		default:
			rep, err = z.getBits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+rep > nlen+ndist {
			return ErrCorrupt
		}
		for ; rep > 0; rep-- {
			lengths[i] = val
			i++
		}
	}
	if lengths[256] == 0 {
		return ErrCorrupt // no end-of-block code
	}
	if err := z.dynLit.build(lengths[:nlen], false); err != nil {
		return err
	}
	return z.dynDst.build(lengths[nlen:nlen+ndist], false)
}

// codes decodes a Huffman block's symbols until its end (done) or until
// decoding must pause (see full).
func (z *Reader) codes(want int) (done bool, err error) {
	for {
		for ; z.copyLen > 0; z.copyLen-- {
			if z.full(want) {
				return false, nil
			}
			z.put(z.win[(z.wpos-z.copyDist)&windowMask])
		}
		if z.full(want) {
			return false, nil
		}
		sym, err := z.decode(z.lit)
		if err != nil {
			return false, err
		}
		switch {
		case sym < 256:
			z.put(byte(sym))
			continue
		case sym == 256:
			return true, nil
		case sym > 285:
			return false, ErrCorrupt
		}
		sym -= 257
		extra, err := z.getBits(uint(lengthExtra[sym]))
		if err != nil {
			return false, err
		}
		length := int(lengthBase[sym]) + extra
		dsym, err := z.decode(z.dist)
		if err != nil {
			return false, err
		}
		if dsym >= maxDist {
			return false, ErrCorrupt
		}
		extra, err = z.getBits(uint(distExtra[dsym]))
		if err != nil {
			return false, err
		}
		dist := int(distBase[dsym]) + extra
		if int64(dist) > z.total {
			return false, ErrCorrupt
		}
		z.copyLen, z.copyDist = length, dist
	}
}
