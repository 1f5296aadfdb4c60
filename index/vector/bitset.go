package vector

import "math/bits"

// Bitset is a set of labels: the allow-list of a filtered search.
// The zero value is an empty set; Set grows it as needed.
type Bitset struct {
	words []uint64
	count int
}

// NewBitset returns an empty set sized for labels below n.
func NewBitset(n uint32) *Bitset {
	return &Bitset{words: make([]uint64, (uint64(n)+63)/64)}
}

// BitsetOf returns the set whose labels are the bits of words: label i is
// bit i%64 of words[i/64]. The set keeps words.
func BitsetOf(words []uint64) *Bitset {
	b := &Bitset{words: words}
	for _, w := range words {
		b.count += bits.OnesCount64(w)
	}
	return b
}

// Set adds label to the set.
func (b *Bitset) Set(label uint32) {
	w := int(label / 64)
	if w >= len(b.words) {
		b.words = append(b.words, make([]uint64, w+1-len(b.words))...)
	}
	bit := uint64(1) << (label % 64)
	if b.words[w]&bit == 0 {
		b.words[w] |= bit
		b.count++
	}
}

// Has reports whether label is in the set.
func (b *Bitset) Has(label uint32) bool {
	w := int(label / 64)
	return w < len(b.words) && b.words[w]&(uint64(1)<<(label%64)) != 0
}

// Len returns the number of labels in the set.
func (b *Bitset) Len() int { return b.count }

// each calls f with every label of the set in increasing order until f
// returns false.
func (b *Bitset) each(f func(label uint32) bool) {
	for i, w := range b.words {
		for w != 0 {
			t := bits.TrailingZeros64(w)
			if !f(uint32(i*64 + t)) {
				return
			}
			w &= w - 1
		}
	}
}
