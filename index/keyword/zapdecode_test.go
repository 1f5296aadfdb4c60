package keyword

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"unsafe"

	segment "github.com/blevesearch/scorch_segment_api/v2"
	zapv17 "github.com/blevesearch/zapx/v17"
)

// Bulk decoding reads every postings list as zap's iterator does: the
// same documents, frequencies and lengths, the same verdict on lists too
// wide for 16 bits, in segments held in memory and on disk, with deleted
// and replaced documents. It must also have read the lists itself: the
// test fails if it declined the lists it is for.
func TestBulkDecodeMatchesIterator(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		rng := rand.New(rand.NewPCG(31, 32))
		ix := openMem(t, Options{CompactAfter: -1})
		if dir != "" {
			var err error
			if ix, err = Open(dir, Options{CompactAfter: -1}); err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
		}
		for b := range 3 {
			docs := randomDocs(rng, 1500, fmt.Sprintf("s%d-", b))
			docs[7].Questions = strings.Repeat("invoice ", 70000)    // a frequency beyond 16 bits
			docs[9].Body = strings.Repeat("refund warranty ", 40000) // a length beyond 16 bits
			apply(t, ix, docs, nil, nil)
		}
		var gone []string
		for i := 0; i < 1500; i += 7 {
			gone = append(gone, fmt.Sprintf("s1-%05d", i))
		}
		apply(t, ix, randomDocs(rng, 40, "s0-"), gone, nil) // replaced and deleted documents
		sn := snapshotWithDeletions(t, ix)
		s := new(scratch)
		var bulk, withDeletes, wide, lists int
		for i := range sn.segs {
			deletes := sn.segs[i].ss.Deleted()
			for f := range numFields {
				err := sn.eachTerm(t.Context(), i, f, func(term string, count uint64) bool {
					pl, err := sn.postings(i, f, []byte(term), s)
					if err != nil || pl == nil {
						t.Fatal(term, err)
					}
					lists++
					want, wantOK, err := decodeEach(sn, s, i, pl, &decoded{})
					if err != nil {
						t.Fatal(err)
					}
					var got decoded
					done, ok := decodeBulk(pl, sn.segs[i].exactLen, &got)
					if !done {
						if count > 1 {
							t.Fatalf("segment %d field %d %q (%d postings): bulk decoding declined", i, f, term, count)
						}
						return true // a one-hit list, which zap encodes in its dictionary
					}
					bulk++
					if ok != wantOK {
						t.Fatalf("segment %d field %d %q: bulk ok %v, iterator %v", i, f, term, ok, wantOK)
					}
					if !ok {
						wide++
						return true
					}
					if !slices.Equal(got.docs, want.docs) || !slices.Equal(got.freqs, want.freqs) || !slices.Equal(got.lens, want.lens) {
						t.Fatalf("segment %d field %d %q: bulk %v %v %v, iterator %v %v %v", i, f, term, got.docs, got.freqs, got.lens, want.docs, want.freqs, want.lens)
					}
					if deletes != nil && uint64(len(got.docs)) < count {
						withDeletes++
					}
					return true
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		sn.close()
		t.Logf("dir %q: %d lists, %d decoded in bulk, %d of them with deleted postings, %d wide", dir, lists, bulk, withDeletes, wide)
		if bulk == 0 || withDeletes == 0 || wide == 0 {
			t.Fatalf("bulk decoding read %d lists, %d with deleted postings, %d wide: the test proves too little", bulk, withDeletes, wide)
		}
	}
}

// snapshotWithDeletions returns a snapshot of ix in which a segment has
// deleted documents. scorch merges segments in the background, which drops
// the deleted ones, at a time of its own: when it has merged them all,
// more documents are deleted, a few times at most.
func snapshotWithDeletions(t *testing.T, ix *Index) *snap {
	t.Helper()
	for attempt := range 5 {
		if err := ix.waitPersisted(context.Background()); err != nil {
			t.Fatal(err)
		}
		sn, err := ix.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		for i := range sn.segs {
			if d := sn.segs[i].ss.Deleted(); d != nil && !d.IsEmpty() {
				return sn
			}
		}
		sn.close()
		var gone []string
		for i := 3 + attempt; i < 1500; i += 11 {
			gone = append(gone, fmt.Sprintf("s2-%05d", i))
		}
		apply(t, ix, nil, gone, nil)
	}
	t.Fatal("every snapshot had its deleted documents merged away")
	return nil
}

// BenchmarkDecodeLongLists decodes the 250 longest postings lists of an
// index (KEFU_KEYWORD_INDEX, a copy of a large store's keyword folder, or
// 20k random chunks) through zap's iterator and in bulk, and reports each
// way's time per posting:
//
//	KEFU_KEYWORD_INDEX=/tmp/kw1m go test -run '^$' -bench DecodeLongLists ./index/keyword/
func BenchmarkDecodeLongLists(b *testing.B) {
	ix := largeIndex(b)
	if ix == nil {
		ix = openMem(b, Options{CompactAfter: -1})
		apply(b, ix, randomDocs(rand.New(rand.NewPCG(1, 2)), 20_000, "c"), nil, nil)
	}
	sn, err := ix.snapshot()
	if err != nil {
		b.Fatal(err)
	}
	defer sn.close()
	type list struct {
		seg, field int
		term       string
		n          uint64
	}
	var lists []list
	for i := range sn.segs {
		for f := range numFields {
			err := sn.eachTerm(b.Context(), i, f, func(term string, count uint64) bool {
				if count >= cacheMinPostings {
					lists = append(lists, list{i, f, term, count})
				}
				return true
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	slices.SortFunc(lists, func(a, b list) int { return cmp.Compare(b.n, a.n) })
	lists = lists[:min(250, len(lists))]
	var postings uint64
	for _, l := range lists {
		postings += l.n
	}
	s := new(scratch)
	for _, way := range []struct {
		name string
		fn   func(*snap, *scratch, int, segment.PostingsList, *decoded) (*decoded, bool, error)
	}{{"iterator", decodeEach}, {"bulk", decode}} {
		b.Run(way.name, func(b *testing.B) {
			var d decoded
			for b.Loop() {
				for _, l := range lists {
					pl, err := sn.postings(l.seg, l.field, []byte(l.term), s)
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := way.fn(sn, s, l.seg, pl, &d); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(uint64(b.N)*postings), "ns/posting")
		})
	}
}

// FuzzDecodeBulk overwrites part of a postings list's frequency stream, or
// of its chunk offsets, and decodes the list: bulk decoding must never
// read out of range, and what it returns as decoded must be a sorted
// subset of the list's documents with a frequency and a length each.
func FuzzDecodeBulk(f *testing.F) {
	ix := openMem(f, Options{CompactAfter: -1})
	apply(f, ix, randomDocs(rand.New(rand.NewPCG(41, 42)), 3000, "f"), []string{"f00003", "f00010"}, nil)
	sn, err := ix.snapshot()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sn.close)
	pl, err := sn.postings(0, slotOf(f, fieldBody), []byte("refund"), new(scratch))
	if err != nil || pl == nil || pl.Count() < 1000 {
		f.Fatalf("no long list to fuzz: %v", err)
	}
	p := unsafe.Pointer(pl.(*zapv17.PostingsList))
	sb := unsafe.Add(unsafe.Pointer(*(**zapv17.SegmentBase)(unsafe.Add(p, zapLayout.sb))), zapLayout.mem)
	mem := *(*[]byte)(sb)
	at := *(*uint64)(unsafe.Add(p, zapLayout.freqOffset))
	members := map[uint32]bool{}
	want, ok, err := decodeEach(sn, new(scratch), 0, pl, &decoded{})
	if err != nil || !ok {
		f.Fatal(err)
	}
	for _, d := range want.docs {
		members[d] = true
	}
	f.Add(uint16(0), []byte{0xff, 0xff, 0xff})
	f.Add(uint16(3), []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add(uint16(40), []byte{0})
	f.Fuzz(func(t *testing.T, off uint16, data []byte) {
		bad := slices.Clone(mem)
		start := min(int(at)+int(off), len(bad))
		copy(bad[start:], data)
		*(*[]byte)(sb) = bad
		defer func() { *(*[]byte)(sb) = mem }()
		var d decoded
		done, ok := decodeBulk(pl, true, &d)
		if !done || !ok {
			return
		}
		if len(d.freqs) != len(d.docs) || len(d.lens) != len(d.docs) {
			t.Fatalf("%d documents, %d frequencies, %d lengths", len(d.docs), len(d.freqs), len(d.lens))
		}
		for i, doc := range d.docs {
			if !members[doc] || i > 0 && doc <= d.docs[i-1] {
				t.Fatalf("document %d at %d: not in the list, or out of order", doc, i)
			}
		}
	})
}

// slotOf is the slot of a text field by name.
func slotOf(tb testing.TB, name string) int {
	for f := range numFields {
		if dictField(f) == name {
			return f
		}
	}
	tb.Fatalf("no field %q", name)
	return -1
}

// largeIndex opens KEFU_KEYWORD_INDEX, a copy of a large store's keyword
// folder (kbs/NAME/keyword), with its segments merged, for the benchmarks
// that measure at that size; nil when it is not set. It closes with b.
func largeIndex(b *testing.B) *Index {
	dir := os.Getenv("KEFU_KEYWORD_INDEX")
	if dir == "" {
		return nil
	}
	ix, err := Open(dir, Options{CompactAfter: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	if err := ix.Compact(b.Context()); err != nil {
		b.Fatal(err)
	}
	return ix
}
