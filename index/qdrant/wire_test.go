package qdrant

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// expectLean reads what a search reads of a response decoded by the
// generated code, independently of leanBatch.
func expectLean(r *qdrant.QueryBatchResponse) [][]leanPoint {
	out := make([][]leanPoint, 0, len(r.GetResult()))
	for _, br := range r.GetResult() {
		pts := make([]leanPoint, 0, len(br.GetResult()))
		for _, sp := range br.GetResult() {
			p := leanPoint{score: sp.GetScore()}
			if id := sp.GetId(); id != nil && id.PointIdOptions != nil {
				p.hasID = true
				if _, ok := id.PointIdOptions.(*qdrant.PointId_Num); ok {
					p.isNum, p.num = true, id.GetNum()
				} else {
					p.uuid = id.GetUuid()
				}
			}
			pl := sp.GetPayload()
			_, p.hasHit = pl[keyHit]
			p.hit, p.fields = pl[keyHit].GetStringValue(), pl[keyFields].GetStringValue()
			p.hash, p.kind = pl[keyHash].GetStringValue(), pl[keyKind].GetStringValue()
			if refs := pl[keyRefs].GetListValue().GetValues(); len(refs) > 0 {
				p.owner = refs[0].GetStringValue()
			}
			pts = append(pts, p)
		}
		out = append(out, pts)
	}
	return out
}

// sameLean reports how got differs from want ("" when it does not).
func sameLean(got, want [][]leanPoint) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			return fmt.Sprintf("result %d: %d points, want %d", i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			g, w := got[i][j], want[i][j]
			if math.Float32bits(g.score) != math.Float32bits(w.score) {
				return fmt.Sprintf("result %d point %d: score %v, want %v", i, j, g.score, w.score)
			}
			g.score, w.score = 0, 0
			if g != w {
				return fmt.Sprintf("result %d point %d:\n got %+v\nwant %+v", i, j, g, w)
			}
		}
	}
	return ""
}

// randomValue makes a payload value of any kind, strings often.
func randomValue(rng *rand.Rand, depth int) *qdrant.Value {
	switch k := rng.IntN(9); {
	case k < 3:
		return qdrant.NewValueString(randomText(rng))
	case k == 3:
		return qdrant.NewValueInt(rng.Int64())
	case k == 4:
		return qdrant.NewValueDouble(rng.Float64())
	case k == 5:
		return qdrant.NewValueBool(rng.IntN(2) == 0)
	case k == 6:
		return qdrant.NewValueNull()
	case k == 7 && depth < 2:
		vs := make([]*qdrant.Value, rng.IntN(3))
		for i := range vs {
			vs[i] = randomValue(rng, depth+1)
		}
		return qdrant.NewValueFromList(vs...)
	default:
		if depth >= 2 {
			return qdrant.NewValueString("")
		}
		return qdrant.NewValueStruct(&qdrant.Struct{Fields: map[string]*qdrant.Value{"x": randomValue(rng, depth+1)}})
	}
}

func randomText(rng *rand.Rand) string {
	words := []string{"", "a", "退款", "hit\nowner\nfaq", "订单 多久\n到账", "ü", "0123456789abcdef"}
	return words[rng.IntN(len(words))] + words[rng.IntN(len(words))]
}

// randomPoint makes a scored point with the keys a search reads, others,
// and the fields a search skips.
func randomPoint(rng *rand.Rand) *qdrant.ScoredPoint {
	sp := &qdrant.ScoredPoint{Score: rng.Float32() * 10, Version: rng.Uint64(), Payload: map[string]*qdrant.Value{}}
	switch rng.IntN(3) {
	case 0:
		sp.Id = qdrant.NewIDNum(rng.Uint64())
	case 1:
		sp.Id = qdrant.NewID(fmt.Sprintf("%08x-0000-5000-8000-%012x", rng.Uint32(), rng.Uint64()>>16))
	}
	for _, k := range []string{keyHit, keyFields, keyHash, keyKind, keyRefs, "terms", "other"} {
		if rng.IntN(3) > 0 {
			sp.Payload[k] = randomValue(rng, 0)
		}
	}
	if rng.IntN(3) == 0 {
		sp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: &qdrant.VectorOutput{Data: []float32{1, 2}}}}
	}
	if rng.IntN(4) == 0 {
		sp.ShardKey = qdrant.NewShardKey("k")
	}
	return sp
}

func randomBatch(rng *rand.Rand) *qdrant.QueryBatchResponse {
	r := &qdrant.QueryBatchResponse{Time: rng.Float64()}
	for range rng.IntN(3) {
		br := &qdrant.BatchResult{}
		for range rng.IntN(5) {
			br.Result = append(br.Result, randomPoint(rng))
		}
		r.Result = append(r.Result, br)
	}
	return r
}

// mergedPoints encodes a batch of one result whose points are each two
// points' encodings one after the other, which protobuf reads as one point
// merged from both (ids and values by their oneof, payload keys replaced).
func mergedPoints(t *testing.T, rng *rand.Rand) []byte {
	var res []byte
	for range 1 + rng.IntN(4) {
		a, err := proto.Marshal(randomPoint(rng))
		if err != nil {
			t.Fatal(err)
		}
		b, err := proto.Marshal(randomPoint(rng))
		if err != nil {
			t.Fatal(err)
		}
		res = protowire.AppendTag(res, 1, protowire.BytesType)
		res = protowire.AppendBytes(res, append(a, b...))
	}
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(out, res)
}

// mergedValues encodes a batch of one point whose payload entries each
// carry two or three values, which protobuf merges (the last kind set
// wins; two lists append).
func mergedValues(t *testing.T, rng *rand.Rand) []byte {
	var pt []byte
	for _, k := range []string{keyHit, keyRefs, keyFields, keyKind} {
		e := protowire.AppendTag(nil, 1, protowire.BytesType)
		e = protowire.AppendString(e, k)
		for range 2 + rng.IntN(2) {
			v, err := proto.Marshal(randomValue(rng, 0))
			if err != nil {
				t.Fatal(err)
			}
			e = protowire.AppendTag(e, 2, protowire.BytesType)
			e = protowire.AppendBytes(e, v)
		}
		pt = protowire.AppendTag(pt, 2, protowire.BytesType)
		pt = protowire.AppendBytes(pt, e)
	}
	res := protowire.AppendTag(nil, 1, protowire.BytesType)
	res = protowire.AppendBytes(res, pt)
	out := protowire.AppendTag(nil, 1, protowire.BytesType)
	return protowire.AppendBytes(out, res)
}

// The lean decoding reads what protobuf's generated code reads, on random
// responses with every kind of payload value, skipped fields, points
// merged from two encodings and values merged from several.
func TestLeanDecodingMatchesProtobuf(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 2000 {
		var data []byte
		switch i % 3 {
		case 0:
			var err error
			if data, err = proto.Marshal(randomBatch(rng)); err != nil {
				t.Fatal(err)
			}
		case 1:
			data = mergedPoints(t, rng)
		default:
			data = mergedValues(t, rng)
		}
		var want qdrant.QueryBatchResponse
		if err := proto.Unmarshal(data, &want); err != nil {
			t.Fatal(err)
		}
		var lb leanBatch
		if err := lb.decode(data); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if d := sameLean(lb.results, expectLean(&want)); d != "" {
			t.Fatalf("case %d: %s", i, d)
		}
	}
}

// Malformed responses are refused, never read past their end.
func TestLeanDecodingRefusesMalformed(t *testing.T) {
	data, err := proto.Marshal(randomBatch(rand.New(rand.NewPCG(7, 8))))
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]byte{
		data[:len(data)-1],
		{0x0a, 0x05, 0x0a},                                     // a result longer than the message
		{0x0a, 0x04, 0x0a, 0x02, 0x0a, 0x80},                   // a point's id cut inside a tag
		{0x0a, 0x07, 0x0a, 0x05, 0x0a, 0x03, 0x12, 0x01, 0xff}, // a UUID that is not UTF-8
	} {
		var lb leanBatch
		if err := lb.decode(bad); err == nil && proto.Unmarshal(bad, &qdrant.QueryBatchResponse{}) != nil {
			t.Errorf("% x: decoded, protobuf refuses it", bad)
		}
	}
}

// FuzzLeanQueryBatch: whatever protobuf's generated code decodes, the lean
// decoding decodes to the same values, and nothing makes it panic.
func FuzzLeanQueryBatch(f *testing.F) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 8 {
		data, err := proto.Marshal(randomBatch(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var lb leanBatch
		err := lb.decode(data)
		var want qdrant.QueryBatchResponse
		if proto.Unmarshal(data, &want) != nil {
			return // the lean decoding skips more than protobuf checks
		}
		if err != nil {
			t.Fatalf("protobuf decodes it, the lean decoding says %v", err)
		}
		if d := sameLean(lb.results, expectLean(&want)); d != "" {
			t.Fatal(d)
		}
	})
}
