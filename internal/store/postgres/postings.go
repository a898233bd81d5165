package postgres

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// A posting chunk (text_postings.docs) lists ascending document numbers
// of one account and term, the first of which is the row's first_doc.
// It holds the gaps between them, Golomb-Rice coded with the parameter
// that makes the chunk shortest:
//
//	uvarint  n, the number of gaps (documents after the first)
//	byte     k, the Rice parameter (0-31)
//	bits     n codes, least significant bit first: for gap g (>= 1),
//	         (g-1)>>k one bits, a zero bit, then the k low bits of g-1
//
// A term in a fraction f of the documents costs about log2(1/f)+1.5 bits
// a posting: 2 bits for a term in every other message, 6 for one in one
// message of 30, where a varint would take 8.

// maxRiceK bounds the Rice parameter: gaps are below 2^31.
const maxRiceK = 31

var errBadChunk = errors.New("postgres: malformed posting chunk")

// encodeDocs returns the chunk of docs (ascending, distinct, at least
// one): docs[0] is the row's first_doc and is not written.
func encodeDocs(docs []uint32) []byte {
	n := len(docs) - 1
	// The total length for each k: sum((g-1)>>k) + n*(k+1) bits.
	var sum uint64
	for i := 1; i < len(docs); i++ {
		sum += uint64(docs[i] - docs[i-1] - 1)
	}
	k, best := 0, uint64(1<<63)
	for c := 0; c <= maxRiceK; c++ {
		var q uint64
		for i := 1; i < len(docs) && q < best; i++ {
			q += uint64(docs[i]-docs[i-1]-1) >> c
		}
		if size := q + uint64(n)*uint64(c+1); size < best {
			k, best = c, size
		}
		if sum>>c == 0 {
			break // a larger k only adds bits
		}
	}
	out := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen32+1+int((best+7)/8)), uint64(n))
	out = append(out, byte(k))
	var w bitWriter
	w.buf = out
	for i := 1; i < len(docs); i++ {
		g := docs[i] - docs[i-1] - 1
		for q := g >> k; q > 0; q-- {
			w.bit(1)
		}
		w.bit(0)
		w.bits(uint64(g), k)
	}
	return w.flush()
}

// decodeDocs appends to dst the documents of a chunk whose first
// document is first. A malformed chunk (or one past the 31-bit range of
// document numbers) is an error, never a panic.
func decodeDocs(dst []uint32, first uint32, chunk []byte) ([]uint32, error) {
	n, l := binary.Uvarint(chunk)
	if l <= 0 || len(chunk) < l+1 || first > 1<<31-1 {
		return dst, errBadChunk
	}
	k := int(chunk[l])
	data := chunk[l+1:]
	// Each gap takes at least k+1 bits.
	if k > maxRiceK || n > uint64(len(data))*8/uint64(k+1) {
		return dst, errBadChunk
	}
	dst = append(dst, first)
	doc := uint64(first)
	pos := 0 // bit position in data
	limit := len(data) * 8
	for range n {
		// The unary quotient: count one bits up to the zero.
		var q uint64
		for {
			if pos >= limit {
				return dst, errBadChunk
			}
			byteBits := data[pos>>3] >> (pos & 7) // the bits left in this byte
			if ones := bits.TrailingZeros8(^byteBits); ones < 8-pos&7 {
				q += uint64(ones)
				pos += ones + 1
				break
			}
			q += uint64(8 - pos&7)
			pos += 8 - pos&7
		}
		if pos+k > limit {
			return dst, errBadChunk
		}
		var low uint64
		for i := 0; i < k; i++ {
			low |= uint64(data[(pos+i)>>3]>>((pos+i)&7)&1) << i
		}
		pos += k
		doc += (q<<k | low) + 1
		if doc > 1<<31-1 {
			return dst, errBadChunk
		}
		dst = append(dst, uint32(doc))
	}
	return dst, nil
}

// bitWriter appends bits to buf, least significant first.
type bitWriter struct {
	buf  []byte
	acc  uint64
	nacc int
}

func (w *bitWriter) bit(b uint64) { w.bits(b, 1) }

// bits writes the n (at most 32) low bits of v.
func (w *bitWriter) bits(v uint64, n int) {
	w.acc |= (v & (1<<n - 1)) << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) flush() []byte {
	if w.nacc > 0 {
		w.buf = append(w.buf, byte(w.acc))
	}
	return w.buf
}

// A chunk's tail is what appending to it needs besides its octets: its
// last document and the length in bits of its codes
// (text_postings.last_doc and bits, migration 17).
type chunkTail struct {
	last uint32
	bits int
}

// encodeChunk is encodeDocs with the chunk's tail.
func encodeChunk(docs []uint32) ([]byte, chunkTail) {
	chunk := encodeDocs(docs)
	tail, _ := tailOf(docs[0], chunk) // just encoded: cannot fail
	return chunk, tail
}

// tailOf decodes a chunk whose first document is first for its tail.
func tailOf(first uint32, chunk []byte) (chunkTail, error) {
	docs, err := decodeDocs(nil, first, chunk)
	if err != nil {
		return chunkTail{}, err
	}
	_, l := binary.Uvarint(chunk)
	k := int(chunk[l])
	tail := chunkTail{last: docs[len(docs)-1]}
	for i := 1; i < len(docs); i++ {
		tail.bits += int((docs[i]-docs[i-1]-1)>>k) + 1 + k
	}
	return tail, nil
}

// appendDocs returns chunk (whose first document is first, and tail its
// tail) with docs (ascending, distinct, after tail.last) appended, and
// its new tail (patchDocs, applied). ok is false when the chunk's Rice
// parameter no longer fits its density: the caller decodes the chunk
// and encodes it again instead. A tail that does not match the chunk is
// an error.
func appendDocs(first uint32, chunk []byte, tail chunkTail, docs []uint32) (out []byte, _ chunkTail, ok bool, err error) {
	if len(chunk) == 0 {
		return nil, tail, false, errBadChunk
	}
	p, ok, err := patchDocs(first, chunk, len(chunk), chunk[len(chunk)-1], tail, docs)
	if !ok || err != nil {
		return nil, tail, ok, err
	}
	return p.apply(chunk), p.tail, true, nil
}

// A chunkPatch appends documents to a chunk without its octets: the
// chunk's first skip octets (its header) become head, the next keep
// (its codes' whole octets) stay, and the rest (the last octet, when
// partly used) becomes codes. The indexer sends PostgreSQL the patch,
// not the chunk.
type chunkPatch struct {
	head       []byte
	skip, keep int
	codes      []byte
	tail       chunkTail // the chunk's, patched
}

// apply returns chunk patched.
func (p chunkPatch) apply(chunk []byte) []byte {
	out := make([]byte, 0, p.size())
	return append(append(append(out, p.head...), chunk[p.skip:p.skip+p.keep]...), p.codes...)
}

// size is the length of the patched chunk.
func (p chunkPatch) size() int { return len(p.head) + p.keep + len(p.codes) }

// patchDocs returns the patch that appends docs (ascending, distinct,
// after tail.last) to a chunk whose first document is first: head is the
// chunk's start (at least its header, the count and the Rice parameter),
// size its length, lastOctet its last octet, tail its tail. The codes in
// the chunk are not read; the new gaps are coded with its Rice
// parameter. ok is false when that parameter no longer fits the chunk's
// density (riceFits). A tail that does not match is an error.
func patchDocs(first uint32, head []byte, size int, lastOctet byte, tail chunkTail, docs []uint32) (p chunkPatch, ok bool, err error) {
	n, l := binary.Uvarint(head)
	if l <= 0 || len(head) < l+1 || head[l] > maxRiceK || size < l+1 {
		return p, false, errBadChunk
	}
	k := int(head[l])
	data := size - l - 1 // octets of codes
	if n > uint64(data)*8 || tail.bits < int(n)*(k+1) || (tail.bits+7)/8 != data || tail.last < first || tail.last > 1<<31-1 ||
		docs[0] <= tail.last || docs[len(docs)-1] > 1<<31-1 {
		return p, false, errBadChunk
	}
	total := n + uint64(len(docs))
	if !riceFits(k, uint64(docs[len(docs)-1]-first), total) {
		return p, false, nil
	}
	bits := tail.bits
	for i, prev := 0, tail.last; i < len(docs); prev, i = docs[i], i+1 {
		bits += int((docs[i]-prev-1)>>k) + 1 + k
	}
	p.head = append(binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+1), total), byte(k))
	p.skip, p.keep = l+1, tail.bits/8
	w := bitWriter{buf: make([]byte, 0, (bits+7)/8-p.keep)}
	if w.nacc = tail.bits % 8; w.nacc > 0 {
		w.acc = uint64(lastOctet) & (1<<w.nacc - 1)
	}
	for i, prev := 0, tail.last; i < len(docs); prev, i = docs[i], i+1 {
		g := docs[i] - prev - 1
		for q := g >> k; q > 0; q-- {
			w.bit(1)
		}
		w.bit(0)
		w.bits(uint64(g), k)
	}
	p.codes = w.flush()
	p.tail = chunkTail{last: docs[len(docs)-1], bits: bits}
	return p, true, nil
}

// riceFits reports whether Rice parameter k still suits a chunk of n
// gaps spanning span (its last document minus its first): whether it is
// within one of the parameter that minimises (span-n)/2^k + n*(k+1), the
// chunk's length estimated from its mean gap (encodeDocs minimises the
// exact length, which uneven gaps can put one lower or higher). For
// gaps of a geometric distribution, a parameter one off costs under half
// a bit a gap more than the best, two off about one to two and a half.
func riceFits(k int, span, n uint64) bool {
	if n == 0 || span < n {
		return true
	}
	best, bestLen := 0, uint64(1<<63)
	for c := 0; c <= maxRiceK; c++ {
		if size := (span-n)>>c + n*uint64(c+1); size < bestLen {
			best, bestLen = c, size
		}
	}
	return k >= best-1 && k <= best+1
}
