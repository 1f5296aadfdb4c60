package vector

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/bench/synth"
)

// saved builds an index of the mode with some deleted rows and saves it.
func saved(t testing.TB, o Options, n int) (*Index, string) {
	ix, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ix.Close)
	cl := synth.NewClusters(o.Dim, 20, 0.7, 11)
	flat := make([]float32, n*o.Dim)
	cl.Fill(flat)
	for i := range n {
		if err := ix.Add(uint32(i/2), flat[i*o.Dim:(i+1)*o.Dim]); err != nil {
			t.Fatal(err)
		}
	}
	for l := uint32(0); l < uint32(n/2); l += 7 {
		ix.Delete(l)
	}
	path := filepath.Join(t.TempDir(), "vectors.idx")
	if err := ix.Save(path); err != nil {
		t.Fatal(err)
	}
	return ix, path
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, o := range modes {
		t.Run(o.Mode, func(t *testing.T) {
			o.Dim = 20 // not a multiple of 16 or 64
			ix, path := saved(t, o, 2000)
			back, err := Load(path, Options{Mode: o.Mode, EfSearch: o.EfSearch})
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			if back.Building() {
				t.Fatal("a stored graph is built again")
			}
			if back.Len() != ix.Len() || back.Labels() != ix.Labels() || back.Dim() != 20 || back.Mode() != ix.Mode() {
				t.Fatalf("loaded Len %d Labels %d Dim %d Mode %s, saved %d %d 20 %s",
					back.Len(), back.Labels(), back.Dim(), back.Mode(), ix.Len(), ix.Labels(), ix.Mode())
			}
			if !slices.Equal(back.vecs, ix.vecs) || !slices.Equal(back.labels, ix.labels) || !slices.Equal(back.codes, ix.codes) {
				t.Fatal("arrays differ after the round trip")
			}
			bg, ig := back.g.Load(), ix.g.Load()
			if o.Mode == ModeHNSW && (bg == nil || !slices.Equal(bg.links0, ig.links0) || !slices.Equal(bg.upper, ig.upper) || bg.entry != ig.entry) {
				t.Fatal("graph not loaded as saved")
			}
			cl := synth.NewClusters(20, 20, 0.7, 12)
			for _, q := range vectors(cl, 20) {
				if a, b := ix.Search(q, 10, nil), back.Search(q, 10, nil); !slices.Equal(a, b) {
					t.Fatalf("search differs: saved %v, loaded %v", a, b)
				}
			}
			// The loaded index takes more vectors.
			if err := back.Add(999999, vectors(cl, 2)...); err != nil {
				t.Fatal(err)
			}
			if r := back.Search(back.row(back.heads[999999]), 1, nil); len(r) != 1 || r[0].Label != 999999 {
				t.Fatalf("added after load, search finds %v", r)
			}
		})
	}
}

func TestLoadConvertsModes(t *testing.T) {
	_, path := saved(t, Options{Dim: 16, Mode: ModeFlat}, 600)
	ix, err := Load(path, Options{Mode: ModeHNSW})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	// The graph is built in the background.
	if err := ix.WaitBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ix.g.Load() == nil || ix.codes == nil || ix.Mode() != ModeHNSW {
		t.Fatalf("flat file loaded as hnsw: graph %v codes %v", ix.g.Load() != nil, ix.codes != nil)
	}
	path2 := filepath.Join(filepath.Dir(path), "b.idx")
	if err := ix.Save(path2); err != nil {
		t.Fatal(err)
	}
	ix2, err := Load(path2, Options{Mode: ModeInt8})
	if err != nil {
		t.Fatal(err)
	}
	defer ix2.Close()
	if ix2.g.Load() != nil || ix2.Building() || ix2.codes == nil || ix2.Mode() != ModeInt8 {
		t.Fatal("hnsw file loaded as int8 keeps its graph or lacks codes")
	}
	q := ix.row(ix.heads[10])
	if r := ix2.Search(q, 1, nil); len(r) != 1 || r[0].Label != 10 {
		t.Fatalf("int8 after conversion finds %v", r)
	}
	if _, err := Load(path, Options{Dim: 17}); kefu.ErrorCode(err) != kefu.EMODEL {
		t.Fatalf("wrong dimension: %v", err)
	}
	if _, err := Load(filepath.Join(filepath.Dir(path), "missing"), Options{}); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("missing file: %v", err)
	}
}

// A graph built over a file with free rows gives those rows levels but no
// links; saved, it must load again as it is, whatever levels they drew.
func TestGraphWithFreeRowsLoadsAgain(t *testing.T) {
	_, path := saved(t, Options{Dim: 16, Mode: ModeInt8}, 400)
	for seed := range uint64(20) {
		ix, err := Load(path, Options{Mode: ModeHNSW, M: 2, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if err := ix.WaitBuilt(t.Context()); err != nil {
			t.Fatal(err)
		}
		path2 := filepath.Join(t.TempDir(), "built.idx")
		if err := ix.Save(path2); err != nil {
			t.Fatal(err)
		}
		back, err := Load(path2, Options{Mode: ModeHNSW})
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if back.Building() {
			t.Fatalf("seed %d: the saved graph is built again", seed)
		}
		q := ix.row(ix.heads[10])
		if a, b := ix.Search(q, 5, nil), back.Search(q, 5, nil); !slices.Equal(a, b) {
			t.Fatalf("seed %d: search differs: built %v, loaded %v", seed, a, b)
		}
		ix.Close()
		back.Close()
	}
}

func TestLoadRefusesDamage(t *testing.T) {
	_, path := saved(t, Options{Dim: 16, Mode: ModeHNSW, M: 4}, 400)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	damage := map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)-1],
		"half":      good[:len(good)/2],
		"extended":  append(slices.Clone(good), 0),
	}
	for _, off := range []int{0, 9, 20, 100, len(good) / 2, len(good) - 20, len(good) - 5} {
		b := slices.Clone(good)
		b[off] ^= 0x40
		damage["flip@"+strconv.Itoa(off)] = b
	}
	for name, b := range damage {
		p := filepath.Join(t.TempDir(), "bad.idx")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p, Options{}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Load returned %v, want ErrCorrupt", name, err)
		}
	}
	// A damaged graph with a valid checksum is caught by the structure check.
	b := slices.Clone(good)
	off := graphOffset(t, b)
	binary.LittleEndian.PutUint32(b[off+4:], 1<<30) // first node's first link
	b = resealed(b)
	if _, err := decode(b, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("out-of-range link: %v", err)
	}
}

// graphOffset returns the offset of the layer-0 links in a saved HNSW file
// of dim 16 with codes.
func graphOffset(t *testing.T, b []byte) int {
	rows := int(binary.LittleEndian.Uint64(b[16:]))
	align := func(x int) int { return (x + 63) &^ 63 }
	off := align(headerSize + 4*rows)      // labels
	off = align(off + 4*16*rows)           // vectors
	off = align(off + codeStride(16)*rows) // codes
	off = align(off + 4*rows)              // scales
	off = align(off + rows)                // levels
	if binary.LittleEndian.Uint32(b[28:]) != flagCodes|flagGraph {
		t.Fatal("file lacks codes or graph")
	}
	return off
}

// resealed rewrites the trailer of a file whose payload was edited.
func resealed(b []byte) []byte {
	if len(b) < trailerSize {
		return b
	}
	p := b[:len(b)-trailerSize]
	tr := b[len(b)-trailerSize:]
	binary.LittleEndian.PutUint64(tr, uint64(len(p)))
	binary.LittleEndian.PutUint32(tr[8:], crc32.Checksum(p, castagnoli))
	copy(tr[12:], trailerTag)
	return b
}

func TestSaveLeavesNoTempFiles(t *testing.T) {
	ix, path := saved(t, Options{Dim: 8, Mode: ModeFlat}, 50)
	if err := ix.Save(path); err != nil { // over the existing file
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries after two saves", len(ents))
	}
	if err := ix.Save(filepath.Join(path, "sub")); err == nil {
		t.Fatal("save under a file succeeded")
	}
}

// FuzzLoad feeds arbitrary bytes to the decoder, once as they are and once
// with a valid trailer, so the structure checks behind the checksum are
// reached too. It must return an index or an error, never panic, and never
// allocate more than the input's size suggests; an index it returns takes
// deletes, adds and searches.
func FuzzLoad(f *testing.F) {
	for _, o := range []Options{{Dim: 3, Mode: ModeFlat}, {Dim: 5, Mode: ModeInt8}, {Dim: 4, Mode: ModeHNSW, M: 2}} {
		ix, err := New(o)
		if err != nil {
			f.Fatal(err)
		}
		for i := range 6 {
			v := make([]float32, o.Dim)
			v[i%o.Dim] = 1
			ix.Add(uint32(i%4), v)
		}
		ix.Delete(2)
		path := filepath.Join(f.TempDir(), "seed.idx")
		if err := ix.Save(path); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("KEFUVEC1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		for _, b := range [][]byte{data, resealed(slices.Clone(data))} {
			mode := ModeAuto // never builds a graph for so few rows
			if len(b) >= headerSize && binary.LittleEndian.Uint32(b[28:])&flagGraph != 0 {
				mode = ModeHNSW // keeps and searches the stored graph
			}
			ix, err := decode(b, Options{Mode: mode})
			if err != nil {
				continue
			}
			q := make([]float32, ix.Dim())
			q[0] = 1
			ix.Search(q, 3, nil)
			if ix.Len() > len(b) {
				t.Fatalf("%d vectors from %d bytes", ix.Len(), len(b))
			}
			// A file that loads is one the index can go on working with.
			ix.Delete(1)
			if err := ix.Add(7, q); err != nil {
				t.Fatalf("add after load: %v", err)
			}
			if err := ix.WaitBuilt(context.Background()); err != nil {
				t.Fatal(err)
			}
			if r := ix.Search(q, 1, nil); len(r) == 0 {
				t.Fatalf("added vector not found")
			}
		}
	})
}
