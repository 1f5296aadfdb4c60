package keyword

import (
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	segment "github.com/blevesearch/scorch_segment_api/v2"
	zapv17 "github.com/blevesearch/zapx/v17"
)

// Why by hand: zap's only public way to read a postings list is its
// iterator, one posting at a time through interfaces, 50–60 ns a posting
// here. Decoding the long lists of a million-chunk index that way was most
// of what a search paid the first time it met a term, and most of warm's
// seconds (BENCHMARKS.md, "Decoding postings in bulk"). A zap v17 list is
// a roaring bitmap of its documents and one stream of uvarints in document
// order (a frequency, shifted left once for its has-locations bit, then,
// when the frequency is not 0, the norm bits: the field length in v17),
// cut into chunks that lie one after the other; decodeBulk reads the
// bitmap in bulk and the stream in one pass.
//
// It reads unexported fields of zapx's PostingsList, SegmentBase and
// FileReader, whose names and types init checks against this layout
// (zapLayout.ok). Any difference, a list zap encodes otherwise (one hit, a
// file callback that transforms its bytes) or a stream that does not end
// where its chunk offsets say makes decodeBulk decline, and the iterator
// reads the list. TestBulkDecodeMatchesIterator compares the two on every
// list of indexes with and without deletions; go.mod pins zapx v17.

// zapLayout holds the offsets of the fields decodeBulk reads.
var zapLayout = func() (l struct {
	ok                                             bool
	sb, freqOffset, postings, except, normBits1Hit uintptr // in PostingsList
	mem, fileReader, processor                     uintptr // in SegmentBase, FileReader
}) {
	field := func(t reflect.Type, name string, want reflect.Type, at *uintptr) bool {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != want {
			return false
		}
		*at = f.Offset
		return true
	}
	pl := reflect.TypeFor[zapv17.PostingsList]()
	bitmap, u64 := reflect.TypeFor[*roaring.Bitmap](), reflect.TypeFor[uint64]()
	l.ok = field(pl, "sb", reflect.TypeFor[*zapv17.SegmentBase](), &l.sb) &&
		field(pl, "freqOffset", u64, &l.freqOffset) &&
		field(pl, "postings", bitmap, &l.postings) &&
		field(pl, "except", bitmap, &l.except) &&
		field(pl, "normBits1Hit", u64, &l.normBits1Hit) &&
		field(reflect.TypeFor[zapv17.SegmentBase](), "mem", reflect.TypeFor[[]byte](), &l.mem) &&
		field(reflect.TypeFor[zapv17.SegmentBase](), "fileReader", reflect.TypeFor[*zapv17.FileReader](), &l.fileReader) &&
		field(reflect.TypeFor[zapv17.FileReader](), "processor", reflect.TypeFor[func([]byte) ([]byte, error)](), &l.processor)
	return l
}()

// decodeBulk reads pl into d as decode does, when pl is a zap v17 list
// whose encoding it knows; done is false when it declines (d is then
// undefined), ok as for decode.
func decodeBulk(pl segment.PostingsList, exact bool, d *decoded) (done, ok bool) {
	zpl, isZap := pl.(*zapv17.PostingsList)
	if !zapLayout.ok || !isZap || zpl == nil {
		return false, false
	}
	p := unsafe.Pointer(zpl)
	sb := *(**zapv17.SegmentBase)(unsafe.Add(p, zapLayout.sb))
	all := *(**roaring.Bitmap)(unsafe.Add(p, zapLayout.postings))
	except := *(**roaring.Bitmap)(unsafe.Add(p, zapLayout.except))
	at := *(*uint64)(unsafe.Add(p, zapLayout.freqOffset))
	if sb == nil || all == nil || at == 0 || *(*uint64)(unsafe.Add(p, zapLayout.normBits1Hit)) != 0 {
		return false, false // no list, a one-hit list, frequencies not encoded
	}
	if fr := *(**zapv17.FileReader)(unsafe.Add(unsafe.Pointer(sb), zapLayout.fileReader)); fr != nil &&
		*(*func([]byte) ([]byte, error))(unsafe.Add(unsafe.Pointer(fr), zapLayout.processor)) != nil {
		return false, false // chunks transformed by a callback
	}
	mem := *(*[]byte)(unsafe.Add(unsafe.Pointer(sb), zapLayout.mem))
	// The chunk offsets: their count, then each chunk's end.
	if at >= uint64(len(mem)) {
		return false, false
	}
	buf := mem[at:]
	chunks, n := binary.Uvarint(buf)
	if n <= 0 || chunks > uint64(len(buf)) {
		return false, false
	}
	buf = buf[n:]
	var end uint64
	for range chunks {
		if end, n = binary.Uvarint(buf); n <= 0 {
			return false, false
		}
		buf = buf[n:]
	}
	if end > uint64(len(buf)) {
		return false, false
	}
	stream := buf[:end]

	total := int(all.GetCardinality())
	d.docs = slices.Grow(d.docs[:0], total)[:total]
	if got := all.ManyIterator().NextMany(d.docs); got != total {
		return false, false
	}
	var gone []uint32 // deleted documents of the list, in order
	if except != nil {
		gone = roaring.And(all, except).ToArray()
	}
	d.freqs, d.lens = slices.Grow(d.freqs[:0], total)[:total], slices.Grow(d.lens[:0], total)[:total]
	kept, pos := 0, 0
	next := func() (uint64, bool) {
		if pos < len(stream) && stream[pos] < 0x80 {
			pos++
			return uint64(stream[pos-1]), true
		}
		v, n := binary.Uvarint(stream[pos:])
		pos += max(n, 0)
		return v, n > 0
	}
	for _, doc := range d.docs {
		fh, good := next()
		if !good {
			return false, false
		}
		freq, bits := fh>>1, uint64(0)
		if freq != 0 {
			if bits, good = next(); !good {
				return false, false
			}
		}
		if len(gone) > 0 && gone[0] == doc {
			gone = gone[1:]
			continue
		}
		var l uint64
		if exact {
			l = uint64(uint32(bits)) // the Posting's NormUint64
		} else {
			l = uint64(lenFromNorm(float64(float32(1 / math.Sqrt(float64(uint32(bits))))))) // its Norm
		}
		if l > math.MaxUint16 || freq > math.MaxUint16 {
			d.docs, d.freqs, d.lens = d.docs[:kept], d.freqs[:kept], d.lens[:kept]
			return true, false
		}
		d.docs[kept], d.freqs[kept], d.lens[kept] = doc, uint16(freq), uint16(l)
		kept++
	}
	if pos != len(stream) || len(gone) != 0 {
		return false, false
	}
	d.docs, d.freqs, d.lens = d.docs[:kept], d.freqs[:kept], d.lens[:kept]
	return true, true
}
