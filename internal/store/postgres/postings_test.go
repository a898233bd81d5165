package postgres

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPostingChunks: chunks of documents at every density decode to
// what was encoded, and dense ones take a few bits a document.
func TestPostingChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct {
		every   uint32 // one document in every (on average)
		n       int
		maxBits float64 // per document
	}{
		{1, 1000, 1.1}, {2, 1000, 2.6}, {30, 1000, 7}, {1000, 300, 12}, {1 << 24, 50, 28},
	} {
		docs := []uint32{rng.Uint32N(1000)}
		for len(docs) < c.n {
			docs = append(docs, docs[len(docs)-1]+1+rng.Uint32N(2*c.every-1))
		}
		chunk := encodeDocs(docs)
		got, err := decodeDocs(nil, docs[0], chunk)
		if err != nil || !slices.Equal(got, docs) {
			t.Fatalf("one in %d: decoded %v (%v), want %v", c.every, got[:min(len(got), 10)], err, docs[:10])
		}
		if bits := float64(len(chunk)*8) / float64(len(docs)); bits > c.maxBits {
			t.Errorf("one in %d: %.2f bits a document, want at most %.1f", c.every, bits, c.maxBits)
		}
	}
	for _, docs := range [][]uint32{{0}, {7}, {1<<31 - 1}, {0, 1<<31 - 1}, {5, 6, 7, 1 << 30}} {
		got, err := decodeDocs([]uint32{99}, docs[0], encodeDocs(docs))
		if err != nil || !slices.Equal(got, append([]uint32{99}, docs...)) {
			t.Errorf("%v: decoded %v, %v", docs, got, err)
		}
	}
}

// TestPostingChunkMalformed: a chunk cut short or past the 31-bit range
// is an error.
func TestPostingChunkMalformed(t *testing.T) {
	chunk := encodeDocs([]uint32{1, 2, 40, 41, 1000})
	for i := range len(chunk) - 1 {
		if _, err := decodeDocs(nil, 1, chunk[:i]); err == nil {
			t.Errorf("cut to %d octets: no error", i)
		}
	}
	if _, err := decodeDocs(nil, 1<<31-10, chunk); err == nil {
		t.Error("past 2^31-1: no error")
	}
	if _, err := decodeDocs(nil, 0, []byte{1, 32, 0xff, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Error("k = 32: no error")
	}
}

// FuzzDecodeDocs: any octets decode without a panic, to ascending
// documents from first within the 31-bit range that encode back to a
// chunk decoding the same.
func FuzzDecodeDocs(f *testing.F) {
	f.Add(uint32(0), encodeDocs([]uint32{0, 1, 2, 3}))
	f.Add(uint32(5), encodeDocs([]uint32{5, 100, 100000}))
	f.Add(uint32(1), []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 3})
	f.Fuzz(func(t *testing.T, first uint32, chunk []byte) {
		docs, err := decodeDocs(nil, first, chunk)
		if err != nil {
			return
		}
		if docs[0] != first {
			t.Fatalf("first %d, want %d", docs[0], first)
		}
		for i := 1; i < len(docs); i++ {
			if docs[i] <= docs[i-1] || docs[i] > 1<<31-1 {
				t.Fatalf("not ascending within range at %d: %v", i, docs)
			}
		}
		again, err := decodeDocs(nil, first, encodeDocs(docs))
		if err != nil || !slices.Equal(again, docs) {
			t.Fatalf("re-encoded: %v, %v; want %v", again, err, docs)
		}
	})
}

// TestAppendDocs: documents appended batch by batch to a chunk, its
// codes copied rather than decoded, decode to the same documents as the
// chunk encoded afresh, with the tail a decoding gives, and take about
// as many octets; across the count's growth from one octet to two, and
// at densities that change (a term seldom seen, then in every message).
func TestAppendDocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, every := range [][]uint32{{1}, {2}, {30}, {1000}, {5000, 1}, {1, 3000}} {
		docs := []uint32{1 + rng.Uint32N(100)}
		for _, e := range every {
			for range 400 {
				docs = append(docs, docs[len(docs)-1]+1+rng.Uint32N(2*e-1))
			}
		}
		chunk, tail := encodeChunk(docs[:1])
		appended, reencoded := 0, 0
		for i := 1; i < len(docs); {
			j := min(len(docs), i+1+rng.IntN(40))
			out, next, ok, err := appendDocs(docs[0], chunk, tail, docs[i:j])
			if err != nil {
				t.Fatalf("one in %v, documents %d-%d: %v", every, i, j, err)
			}
			if ok {
				appended++
			} else {
				reencoded++
				out, next = encodeChunk(docs[:j])
			}
			fresh := encodeDocs(docs[:j])
			got, err := decodeDocs(nil, docs[0], out)
			want, ferr := decodeDocs(nil, docs[0], fresh)
			if err != nil || ferr != nil || !slices.Equal(got, want) || !slices.Equal(got, docs[:j]) {
				t.Fatalf("one in %v, after %d: appended decodes to %d documents (%v), encoded afresh %d (%v), want %d",
					every, j, len(got), err, len(want), ferr, j)
			}
			if decoded, err := tailOf(docs[0], out); err != nil || decoded != next {
				t.Fatalf("one in %v, after %d: tail %+v, decoded %+v (%v)", every, j, next, decoded, err)
			}
			if len(out) > len(fresh)+len(fresh)/8+2 {
				t.Errorf("one in %v, after %d: appended %d octets, afresh %d", every, j, len(out), len(fresh))
			}
			chunk, tail, i = out, next, j
		}
		if appended < 3*reencoded {
			t.Errorf("one in %v: %d appends, %d encoded afresh; want mostly appends", every, appended, reencoded)
		}
	}
}

// TestAppendDocsBadTail: a tail that does not match its chunk is an
// error, never a panic or a corrupt chunk.
func TestAppendDocsBadTail(t *testing.T) {
	chunk, tail := encodeChunk([]uint32{1, 2, 40, 41, 1000})
	for _, bad := range []chunkTail{
		{tail.last, tail.bits + 8}, {tail.last, tail.bits - 8}, {0, tail.bits}, {tail.last, -1}, {1 << 31, tail.bits},
	} {
		if _, _, _, err := appendDocs(1, chunk, bad, []uint32{2000}); err == nil {
			t.Errorf("tail %+v (right: %+v): no error", bad, tail)
		}
	}
	if _, _, _, err := appendDocs(1, chunk, tail, []uint32{tail.last}); err == nil {
		t.Error("a document not after the last: no error")
	}
	if _, _, _, err := appendDocs(1, chunk, tail, []uint32{1 << 31}); err == nil {
		t.Error("past 2^31-1: no error")
	}
}

// FuzzAppendDocs: for any octets with any tail, appendDocs does not
// panic; for a chunk that decodes, its documents split anywhere and the
// second part appended to the first decode to the same documents.
func FuzzAppendDocs(f *testing.F) {
	f.Add(uint32(0), encodeDocs([]uint32{0, 1, 2, 3}), uint8(2), uint32(3), 3)
	f.Add(uint32(5), encodeDocs([]uint32{5, 100, 100000, 100001}), uint8(1), uint32(7), 9)
	f.Fuzz(func(t *testing.T, first uint32, chunk []byte, split uint8, last uint32, bits int) {
		if len(chunk) > 0 {
			appendDocs(first, chunk, chunkTail{last, bits}, []uint32{last + 1})
		}
		docs, err := decodeDocs(nil, first, chunk)
		if err != nil || len(docs) < 2 {
			return
		}
		i := 1 + int(split)%(len(docs)-1)
		head, tail := encodeChunk(docs[:i])
		out, _, ok, err := appendDocs(first, head, tail, docs[i:])
		if err != nil {
			t.Fatalf("appending %d to %d documents: %v", len(docs)-i, i, err)
		}
		if !ok {
			return
		}
		if got, err := decodeDocs(nil, first, out); err != nil || !slices.Equal(got, docs) {
			t.Fatalf("appended: %v, %v; want %v", got, err, docs)
		}
	})
}
