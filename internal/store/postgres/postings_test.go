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
