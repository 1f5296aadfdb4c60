// Package qdranttest is an in-process Qdrant for tests: a gRPC server that
// implements the subset of Qdrant's Collections, Points and Qdrant services
// the kefu backend (index/qdrant) calls, following Qdrant 1.17's documented
// semantics, so the backend's tests and `kefu eval --store` run where no
// Qdrant can.
//
// What it follows: collections with named dense vectors (cosine, dot;
// multivectors with the MaxSim comparator) and named sparse vectors with the
// idf modifier, whose idf is ln(1 + (N − df + 0.5)/(df + 0.5)) with N the
// points of the collection and df those whose sparse vector holds the index
// (Qdrant's collection-wide statistics); filters (must, should, must_not,
// min_should, nested filters, match keyword/integer/bool/any/except, range,
// has_id, is_empty, is_null, dotted keys into objects, arrays matching when
// any element does); payload indexes, of which facets require a keyword one;
// upsert (with update_filter), delete, get, set and delete payload, update
// vectors, update batches applied in order, count, scroll by id with
// next_page_offset, query and query batches (nearest, exact), facets with
// exact counts ordered by count then value.
//
// How it indexes, as a Qdrant segment does (index.go): every point has an
// internal offset; a change writes a new version at a new offset and marks
// the old one deleted until a compaction (Qdrant's vacuum). A keyword
// payload index maps each value to its offsets, so a match on it (a KB's
// tenant, a chunk's hash) reads the points holding the value, not every
// point; an integer index holds each offset's values for ranges; facets
// count each value's offsets within the filter; a filter is evaluated once
// per request into a set of offsets, from the indexes where it can and
// condition by condition (matchFilter, the reference the tests compare it
// with) where it cannot. A sparse vector has an inverted index (only the
// postings of a query's dimensions are read) with live document
// frequencies; dense vectors are scored exactly by kefu's own flat scan
// (index/vector) over the filtered set.
//
// What it cannot prove: anything of Qdrant's performance (its timings say
// how costly kefu's client and gRPC are, next to an exact scan that a real
// server replaces by HNSW), HNSW recall (searches here are exact), on-disk
// durability, segment optimisation, consistency across shards or replicas,
// the REST API, prefetch and fusion (unused by kefu; answered
// Unimplemented), text indexes, geo and datetime conditions, or how a real
// server orders points of equal score. Run the same suite against a real
// Qdrant (KEFU_QDRANT_URL, make test-qdrant) for those.
package qdranttest

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// Version is the Qdrant version whose API and semantics the server follows
// (and reports in its health check).
const Version = "1.17.1"

// Server is an in-process Qdrant listening on a loopback port.
type Server struct {
	addr string
	srv  *grpc.Server
	lis  net.Listener

	mu   sync.RWMutex
	cols map[string]*collection

	fmu   sync.Mutex
	fails map[string][]codes.Code // method (e.g. "Upsert") → errors to return next
	down  bool
	calls map[string]int
}

// Start starts a server on 127.0.0.1 with an ephemeral port.
func Start() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{addr: lis.Addr().String(), lis: lis, cols: map[string]*collection{}, fails: map[string][]codes.Code{}, calls: map[string]int{}}
	// Clients ping every 10 s (go-client's default keepalive); grpc-go's
	// default policy would answer too_many_pings and drop the connection.
	s.srv = grpc.NewServer(grpc.MaxRecvMsgSize(32<<20), grpc.UnaryInterceptor(s.intercept),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}))
	qdrant.RegisterCollectionsServer(s.srv, collections{s: s})
	qdrant.RegisterPointsServer(s.srv, points{s: s})
	qdrant.RegisterQdrantServer(s.srv, health{})
	go s.srv.Serve(lis)
	return s, nil
}

// Addr returns host:port of the gRPC endpoint.
func (s *Server) Addr() string { return s.addr }

// URL returns the server's address as kefu's --store takes it.
func (s *Server) URL() string { return "qdrant://" + s.addr }

// Close stops the server.
func (s *Server) Close() { s.srv.Stop() }

// FailNext makes the next calls of method (the gRPC method name, e.g.
// "Upsert", "QueryBatch") fail with the codes given, one per call.
func (s *Server) FailNext(method string, codes ...codes.Code) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.fails[method] = append(s.fails[method], codes...)
}

// SetDown makes every call fail with Unavailable, as an unreachable server.
func (s *Server) SetDown(down bool) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.down = down
}

// Calls returns how many times method was called.
func (s *Server) Calls(method string) int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.calls[method]
}

// Collections lists the collections' names.
func (s *Server) Collections() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for n := range s.cols {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	m := info.FullMethod[strings.LastIndexByte(info.FullMethod, '/')+1:]
	s.fmu.Lock()
	s.calls[m]++
	down := s.down
	var fail codes.Code
	if f := s.fails[m]; len(f) > 0 {
		fail, s.fails[m] = f[0], f[1:]
	}
	s.fmu.Unlock()
	if down {
		return nil, status.Error(codes.Unavailable, "qdranttest: server is down")
	}
	if fail != codes.OK {
		return nil, status.Errorf(fail, "qdranttest: injected failure of %s", m)
	}
	return h(ctx, req)
}

func idKey(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return "u" + strings.ToLower(u)
	}
	return fmt.Sprintf("n%020d", id.GetNum())
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "Wrong input: "+format, args...)
}

func (s *Server) col(name string) (*collection, error) {
	c, ok := s.cols[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Not found: Collection `%s` doesn't exist!", name)
	}
	return c, nil
}

// health is the Qdrant service.
type health struct {
	qdrant.UnimplementedQdrantServer
}

// collections is the Collections service.
type collections struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

// points is the Points service.
type points struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

// HealthCheck answers the health check.
func (health) HealthCheck(ctx context.Context, _ *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	return &qdrant.HealthCheckReply{Title: "qdranttest - in-process Qdrant for tests", Version: Version}, nil
}

// Create creates a collection.
func (cs collections) Create(ctx context.Context, r *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cols[r.CollectionName]; ok {
		return nil, invalid("Collection `%s` already exists!", r.CollectionName)
	}
	c := newCollection()
	switch vc := r.GetVectorsConfig().GetConfig().(type) {
	case *qdrant.VectorsConfig_Params:
		c.dense[""] = vc.Params
	case *qdrant.VectorsConfig_ParamsMap:
		for n, p := range vc.ParamsMap.Map {
			c.dense[n] = p
		}
	}
	for n, p := range c.dense {
		if p.Size == 0 || p.Size > 65536 {
			return nil, invalid("vector %q: size %d", n, p.Size)
		}
		if p.Distance != qdrant.Distance_Cosine && p.Distance != qdrant.Distance_Dot {
			return nil, status.Errorf(codes.Unimplemented, "qdranttest: distance %v", p.Distance)
		}
	}
	for n, p := range r.GetSparseVectorsConfig().GetMap() {
		c.sparse[n] = p
	}
	c.reindex()
	s.cols[r.CollectionName] = c
	return &qdrant.CollectionOperationResponse{Result: true}, nil
}

// Delete deletes a collection; deleting a missing one is not an error.
func (cs collections) Delete(ctx context.Context, r *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.cols[r.CollectionName]
	delete(s.cols, r.CollectionName)
	return &qdrant.CollectionOperationResponse{Result: ok}, nil
}

// List lists the collections.
func (cs collections) List(ctx context.Context, _ *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	var out []*qdrant.CollectionDescription
	for _, n := range cs.s.Collections() {
		out = append(out, &qdrant.CollectionDescription{Name: n})
	}
	return &qdrant.ListCollectionsResponse{Collections: out}, nil
}

// CollectionExists reports whether a collection exists.
func (cs collections) CollectionExists(ctx context.Context, r *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	s := cs.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.cols[r.CollectionName]
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: ok}}, nil
}

// Get describes a collection.
func (cs collections) Get(ctx context.Context, r *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	s := cs.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, err := s.col(r.CollectionName)
	if err != nil {
		return nil, err
	}
	n := uint64(len(c.points))
	params := &qdrant.CollectionParams{ShardNumber: 1, VectorsConfig: qdrant.NewVectorsConfigMap(c.dense), SparseVectorsConfig: &qdrant.SparseVectorConfig{Map: c.sparse}}
	return &qdrant.GetCollectionInfoResponse{Result: &qdrant.CollectionInfo{Status: qdrant.CollectionStatus_Green, SegmentsCount: 1,
		Config: &qdrant.CollectionConfig{Params: params}, PayloadSchema: c.indexes, PointsCount: &n}}, nil
}

// CreateFieldIndex creates a payload index.
func (ps points) CreateFieldIndex(ctx context.Context, r *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	t := qdrant.PayloadSchemaType_Keyword
	switch r.GetFieldType() {
	case qdrant.FieldType_FieldTypeKeyword:
	case qdrant.FieldType_FieldTypeInteger:
		t = qdrant.PayloadSchemaType_Integer
	case qdrant.FieldType_FieldTypeBool:
		t = qdrant.PayloadSchemaType_Bool
	default:
		return nil, status.Errorf(codes.Unimplemented, "qdranttest: index type %v", r.GetFieldType())
	}
	return done(ps.s.write(r.CollectionName, func(c *collection) error {
		c.indexes[r.FieldName] = &qdrant.PayloadSchemaInfo{DataType: t, Params: r.FieldIndexParams}
		c.reindex()
		return nil
	}))
}

func (c *collection) parsePoint(id *qdrant.PointId, vs *qdrant.Vectors, whole bool) (*point, error) {
	if id == nil {
		return nil, invalid("point without an id")
	}
	if u := id.GetUuid(); u != "" && !validUUID(u) {
		return nil, invalid("Unable to parse UUID: %s", u)
	}
	p := &point{id: id, key: idKey(id), dense: map[string][][]float32{}, sparse: map[string]sparseVec{}}
	named := map[string]*qdrant.Vector{}
	switch v := vs.GetVectorsOptions().(type) {
	case *qdrant.Vectors_Vector:
		named[""] = v.Vector
	case *qdrant.Vectors_Vectors:
		named = v.Vectors.GetVectors()
	}
	for name, v := range named {
		if _, ok := c.sparse[name]; ok {
			sv := v.GetSparse()
			if sv == nil {
				return nil, invalid("vector %q is sparse", name)
			}
			if len(sv.Indices) != len(sv.Values) {
				return nil, invalid("sparse vector %q: %d indices, %d values", name, len(sv.Indices), len(sv.Values))
			}
			seen := map[uint32]bool{}
			for _, ix := range sv.Indices {
				if seen[ix] {
					return nil, invalid("sparse vector %q: indices must be unique", name)
				}
				seen[ix] = true
			}
			p.sparse[name] = sparseVec{slices.Clone(sv.Indices), slices.Clone(sv.Values)}
			continue
		}
		dp, ok := c.dense[name]
		if !ok {
			return nil, invalid("Not existing vector name error: %s", name)
		}
		var vecs [][]float32
		if dp.MultivectorConfig != nil {
			md := v.GetMultiDense()
			if md == nil {
				return nil, invalid("vector %q is a multivector", name)
			}
			for _, d := range md.Vectors {
				vecs = append(vecs, d.Data)
			}
			if len(vecs) == 0 {
				return nil, invalid("multivector %q is empty", name)
			}
		} else {
			d := v.GetDense()
			if d == nil {
				return nil, invalid("vector %q is dense", name)
			}
			vecs = [][]float32{d.Data}
		}
		for i, d := range vecs {
			if uint64(len(d)) != dp.Size {
				return nil, invalid("Vector dimension error: expected dim: %d, got %d", dp.Size, len(d))
			}
			// Refused here (an assumption: Qdrant's documentation is
			// silent) because no exact score exists for them.
			if slices.ContainsFunc(d, func(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }) {
				return nil, invalid("vector %q has a NaN or infinite component", name)
			}
			d = slices.Clone(d)
			if dp.Distance == qdrant.Distance_Cosine {
				normalize(d)
			}
			vecs[i] = d
		}
		p.dense[name] = vecs
	}
	if whole {
		for name := range c.dense {
			if _, ok := p.dense[name]; !ok && len(c.dense) == 1 && name == "" {
				return nil, invalid("point without its vector")
			}
		}
	}
	return p, nil
}

func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i, r := range u {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

func normalize(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= inv
	}
}
