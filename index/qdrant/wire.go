package qdrant

import (
	"errors"
	"math"
	"unicode/utf8"
	"unsafe"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kefu-dev/kefu"
)

// A search's response is decoded here, not by the generated code: into the
// few values a search reads of each point (its id, score, keyHit and
// analysed fields, or the keys keyHit stands for), as views of one buffer.
// protobuf's generated decoding makes a map, Value messages and strings for
// every point, about 1,600 objects for a search's 200 candidates: that was
// most of a search's client time and of the garbage a node makes (see
// BENCHMARKS.md, "Qdrant backend"). The decoding keeps protobuf's semantics
// for what it reads (the last of a repeated scalar wins, a repeated message
// merges, a field of another wire type is unknown and skipped, strings must
// be UTF-8); TestLeanDecodingMatchesProtobuf and FuzzLeanQueryBatch compare
// it with the generated code.

// leanPoint is what a search reads of a scored point.
type leanPoint struct {
	num    uint64 // the id when it is a number
	uuid   string // the id when it is a UUID
	isNum  bool
	hasID  bool
	score  float32
	hasHit bool   // the payload has keyHit (of any type)
	hit    string // keyHit's string value
	fields string // keyFields' string value
	hash   string // keyHash's, for points written before keyHit
	kind   string // keyKind's, likewise
	owner  string // the string value of keyRefs' first element, likewise
}

// id returns the point's id as the client takes it.
func (p *leanPoint) id() *qdrant.PointId {
	if p.isNum {
		return qdrant.NewIDNum(p.num)
	}
	return qdrant.NewID(p.uuid)
}

// hitInfo reads the point's keyHit, or for a point written before keyHit
// existed its hash, refs and kind.
func (p *leanPoint) hitInfo() hit {
	if p.hasHit {
		return parseHit(p.hit)
	}
	return hit{hash: p.hash, owner: p.owner, kind: kefu.ChunkKind(p.kind)}
}

// leanBatch is a QueryBatchResponse as a search reads it: per request,
// its points.
type leanBatch struct {
	results [][]leanPoint
}

var errWire = errors.New("qdrant: malformed response")

// decode reads a QueryBatchResponse (its results; the time and usage are
// skipped).
func (lb *leanBatch) decode(b []byte) error {
	lb.results = lb.results[:0]
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		var pts []leanPoint
		err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num != 1 || typ != protowire.BytesType {
				return nil
			}
			pts = append(pts, leanPoint{})
			return pts[len(pts)-1].decode(v)
		})
		lb.results = append(lb.results, pts)
		return err
	})
}

// decode reads a ScoredPoint.
func (p *leanPoint) decode(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			return p.decodeID(v)
		case num == 2 && typ == protowire.BytesType:
			return p.decodeEntry(v)
		case num == 3 && typ == protowire.Fixed32Type:
			p.score = math.Float32frombits(uint32(x))
		}
		return nil
	})
}

// decodeID merges a PointId into the point's: the last of its oneof wins.
func (p *leanPoint) decodeID(b []byte) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			p.num, p.uuid, p.isNum, p.hasID = x, "", true, true
		case num == 2 && typ == protowire.BytesType:
			s, err := text(v)
			if err != nil {
				return err
			}
			p.num, p.uuid, p.isNum, p.hasID = 0, s, false, true
		}
		return nil
	})
}

// leanValue is what a search reads of a payload Value: its string, or for
// a list its first element's string.
type leanValue struct {
	kind  protowire.Number // the oneof field last set (0: none)
	str   string           // string_value
	first *leanValue       // list_value's first element, when it has one
}

// decodeEntry reads a payload map entry and keeps its value when the key is
// one a search reads; a later entry with the same key replaces it.
func (p *leanPoint) decodeEntry(b []byte) error {
	var (
		key string
		val leanValue
	)
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			s, err := text(v)
			key = s
			return err
		case num == 2 && typ == protowire.BytesType:
			return val.decode(v, 0)
		}
		return nil
	})
	if err != nil {
		return err
	}
	str := ""
	if val.kind == 4 {
		str = val.str
	}
	switch key {
	case keyHit:
		p.hasHit, p.hit = true, str
	case keyFields:
		p.fields = str
	case keyHash:
		p.hash = str
	case keyKind:
		p.kind = str
	case keyRefs:
		p.owner = ""
		if val.kind == 7 && val.first != nil && val.first.kind == 4 {
			p.owner = val.first.str
		}
	}
	return nil
}

// decode merges a Value into v. Only a list's first element is read, and
// within it no deeper list: depth bounds the recursion.
func (v *leanValue) decode(b []byte, depth int) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, f []byte, _ uint64) error {
		want := protowire.BytesType
		switch num {
		case 1, 3, 5:
			want = protowire.VarintType
		case 2:
			want = protowire.Fixed64Type
		case 4, 6, 7:
		default:
			return nil
		}
		if typ != want {
			return nil
		}
		switch num {
		case 4:
			s, err := text(f)
			if err != nil {
				return err
			}
			v.str = s
		case 7:
			if v.kind != 7 {
				v.first = nil // a list replaces another kind
			}
			if depth == 0 {
				// A ListValue: a merged one appends, so the first element is
				// the first list's, if it had one.
				err := eachField(f, func(num protowire.Number, typ protowire.Type, e []byte, _ uint64) error {
					if num != 1 || typ != protowire.BytesType {
						return nil
					}
					if v.first == nil {
						v.first = &leanValue{}
						return v.first.decode(e, depth+1)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		if num != 4 {
			v.str = ""
		}
		v.kind = num
		return nil
	})
}

// eachField calls fn with each field of a message: its number, wire type,
// and its bytes (length-delimited) or value (varint, fixed32, fixed64).
// Groups are skipped whole.
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte, uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		var (
			v []byte
			x uint64
		)
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var u uint32
			u, n = protowire.ConsumeFixed32(b)
			x = uint64(u)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errWire
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

// text is a string field's value, a view of the response's buffer (which
// the codec made for this response alone).
func text(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errWire
	}
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

// leanCodec is protobuf's codec for requests and for every response but a
// leanBatch, which it decodes itself.
type leanCodec struct{ proto encoding.CodecV2 }

var leanCall = grpc.ForceCodecV2(leanCodec{proto: encoding.GetCodecV2("proto")})

func (c leanCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c leanCodec) Unmarshal(data mem.BufferSlice, v any) error {
	lb, ok := v.(*leanBatch)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	// Materialize copies the response into a buffer of its own, which the
	// points' strings then view.
	return lb.decode(data.Materialize())
}

func (leanCodec) Name() string { return "proto" }
