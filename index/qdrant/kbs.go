package qdrant

import (
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/qdrant/go-client/qdrant"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/index/keyword"
)

// writer returns the lock that serialises this node's writes to a KB.
func (s *Store) writer(kb string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.writers[kb]
	if !ok {
		m = new(sync.Mutex)
		s.writers[kb] = m
	}
	return m
}

// record reads a KB's record.
func (s *Store) record(ctx context.Context, name string) (*kbRecord, error) {
	raw, err := s.rawRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	return decodeRecord(raw)
}

// snapshot reads a KB's record for a search, which only reads it: the
// record decoded last is shared while Qdrant returns the same JSON.
func (s *Store) snapshot(ctx context.Context, name string) (*kbRecord, error) {
	raw, err := s.rawRecord(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.decode(name, raw)
}

// decode returns the record of raw, the one decoded last when it is the
// same JSON.
func (s *Store) decode(name, raw string) (*kbRecord, error) {
	s.mu.Lock()
	last := s.decoded[name]
	s.mu.Unlock()
	if last != nil && last.raw == raw {
		return last.rec, nil
	}
	rec, err := decodeRecord(raw)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.decoded[name] = &decodedRecord{raw: raw, rec: rec}
	s.mu.Unlock()
	return rec, nil
}

// lastDecoded is the record of a KB this node read or wrote last, or nil.
func (s *Store) lastDecoded(name string) *decodedRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.decoded[name]
}

// decodedRecord is a KB record as read and as decoded.
type decodedRecord struct {
	raw string
	rec *kbRecord
}

// rawRecord reads the JSON of a KB's record.
func (s *Store) rawRecord(ctx context.Context, name string) (string, error) {
	if !kefu.ValidKBName(name) {
		return "", kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	var pts []*qdrant.RetrievedPoint
	err := s.call(ctx, "read knowledge base", func(ctx context.Context) (err error) {
		pts, err = s.client.Get(ctx, &qdrant.GetPoints{CollectionName: s.kbsCol, Ids: []*qdrant.PointId{kbPointID(name)}, WithPayload: qdrant.NewWithPayloadInclude(keyRecord)})
		return err
	})
	if err != nil {
		return "", err
	}
	if len(pts) == 0 {
		return "", kefu.Errorf(kefu.ENOTFOUND, "knowledge base %q not found", name)
	}
	return pts[0].Payload[keyRecord].GetStringValue(), nil
}

func decodeRecord(raw string) (*kbRecord, error) {
	rec := new(kbRecord)
	if err := json.Unmarshal([]byte(raw), rec); err != nil {
		return nil, kefu.Errorf(kefu.EINTERNAL, "qdrant: knowledge base record: %v", err)
	}
	rec.KB.Incarnation = rec.ID
	return rec, nil
}

// commit writes a KB's record: the one step that makes a write visible.
// With create, an existing record is left alone (update_filter matches no
// existing point) and the caller checks which record won.
func (s *Store) commit(ctx context.Context, rec *kbRecord, create bool) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return kefu.Errorf(kefu.EINTERNAL, "qdrant: %v", err)
	}
	req := &qdrant.UpsertPoints{CollectionName: s.kbsCol, Wait: ptr(true), Points: []*qdrant.PointStruct{{
		Id: kbPointID(rec.KB.Name), Payload: qdrant.NewValueMap(map[string]any{keyRecord: string(b), "name": rec.KB.Name}),
		Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{}),
	}}}
	if create {
		req.UpdateFilter = &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewHasID(kbPointID(rec.KB.Name))}}
	}
	err = s.call(ctx, "commit knowledge base", func(ctx context.Context) error {
		_, err := s.client.Upsert(ctx, req)
		return err
	})
	if err == nil && !create {
		// The next search starts from what this node wrote (see search).
		_, _ = s.decode(rec.KB.Name, string(b))
	}
	return err
}

// CreateKB creates an empty KB. Zero settings get the defaults.
func (s *Store) CreateKB(ctx context.Context, kb *kefu.KB) error {
	if !kefu.ValidKBName(kb.Name) {
		return kefu.Errorf(kefu.EINVALID, "invalid knowledge base name %q: use 1-63 lower-case letters, digits, '-' or '_'", kb.Name)
	}
	if err := keyword.ValidSettings(&kb.Settings); err != nil {
		return err
	}
	w := s.writer(kb.Name)
	w.Lock()
	defer w.Unlock()
	if _, err := s.record(ctx, kb.Name); err == nil {
		return kefu.Errorf(kefu.ECONFLICT, "knowledge base %q already exists", kb.Name)
	} else if kefu.ErrorCode(err) != kefu.ENOTFOUND {
		return err
	}
	now := time.Now().UTC()
	kb.CreatedAt, kb.UpdatedAt, kb.Version = now, now, 1
	rec := &kbRecord{KB: *kb, ID: kb.Name + "-" + strconv.FormatInt(now.UnixNano(), 36)}
	kb.Incarnation = rec.ID
	if err := s.commit(ctx, rec, true); err != nil {
		return err
	}
	// Another node may have created it at the same moment: the record
	// that landed is the one that counts.
	got, err := s.record(ctx, kb.Name)
	if err != nil {
		return err
	}
	if got.ID != rec.ID {
		return kefu.Errorf(kefu.ECONFLICT, "knowledge base %q already exists", kb.Name)
	}
	return nil
}

// KB returns a KB by name.
func (s *Store) KB(ctx context.Context, name string) (*kefu.KB, error) {
	rec, err := s.record(ctx, name)
	if err != nil {
		return nil, err
	}
	return &rec.KB, nil
}

// KBs lists every KB by name.
func (s *Store) KBs(ctx context.Context) ([]*kefu.KB, error) {
	var out []*kefu.KB
	err := s.scroll(ctx, s.kbsCol, nil, false, func(p *qdrant.RetrievedPoint) error {
		rec, err := decodeRecord(p.Payload[keyRecord].GetStringValue())
		if err == nil {
			out = append(out, &rec.KB)
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// scrollPage is how many points one scroll call returns.
const scrollPage = 256

// scroll calls fn with every point of col that matches f, page by page.
func (s *Store) scroll(ctx context.Context, col string, f *qdrant.Filter, vectors bool, fn func(*qdrant.RetrievedPoint) error) error {
	var offset *qdrant.PointId
	for {
		var (
			pts  []*qdrant.RetrievedPoint
			next *qdrant.PointId
		)
		err := s.call(ctx, "scroll", func(ctx context.Context) (err error) {
			pts, next, err = s.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{CollectionName: col, Filter: f, Offset: offset, Limit: ptr(uint32(scrollPage)),
				WithPayload: qdrant.NewWithPayload(true), WithVectors: qdrant.NewWithVectors(vectors)})
			return err
		})
		if err != nil {
			return err
		}
		for _, p := range pts {
			if err := fn(p); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		offset = next
	}
}

// UpdateKB stores kb's description and settings; its model, content and
// creation time stay as stored.
func (s *Store) UpdateKB(ctx context.Context, kb *kefu.KB) error {
	if err := keyword.ValidSettings(&kb.Settings); err != nil {
		return err
	}
	w := s.writer(kb.Name)
	w.Lock()
	defer w.Unlock()
	rec, err := s.record(ctx, kb.Name)
	if err != nil {
		return err
	}
	rec.KB.Description, rec.KB.Settings = kb.Description, kb.Settings
	rec.KB.Version++
	rec.KB.UpdatedAt = time.Now().UTC()
	if err := s.commit(ctx, rec, false); err != nil {
		return err
	}
	s.advanceStats(rec, rec.KB.Version-1, nil, 0)
	*kb = rec.KB
	return nil
}

// DeleteKB removes a KB: its record first (from then on it is gone), then
// its chunk collection and its documents.
func (s *Store) DeleteKB(ctx context.Context, name string) error {
	w := s.writer(name)
	w.Lock()
	defer w.Unlock()
	rec, err := s.record(ctx, name)
	if err != nil {
		return err
	}
	err = s.call(ctx, "delete knowledge base", func(ctx context.Context) error {
		_, err := s.client.Delete(ctx, &qdrant.DeletePoints{CollectionName: s.kbsCol, Wait: ptr(true), Points: qdrant.NewPointsSelector(kbPointID(name))})
		return err
	})
	if err != nil {
		return err
	}
	s.forget(name)
	if err := s.dropKBContent(ctx, rec); err != nil {
		s.log.Error("knowledge base deleted, but some of its points are left in Qdrant", "kb", name, "collection", rec.Collection, "err", err)
	}
	return nil
}

func (s *Store) dropKBContent(ctx context.Context, rec *kbRecord) error {
	if rec.Collection != "" {
		if err := s.drop(ctx, rec.Collection); err != nil {
			return err
		}
	}
	return s.call(ctx, "delete documents", func(ctx context.Context) error {
		_, err := s.client.Delete(ctx, &qdrant.DeletePoints{CollectionName: s.docsCol, Wait: ptr(true),
			Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword(keyKB, rec.ID)}})})
		return err
	})
}

func (s *Store) drop(ctx context.Context, col string) error {
	return s.call(ctx, "delete collection", func(ctx context.Context) error {
		return s.client.DeleteCollection(ctx, col)
	})
}

// forget drops what this node caches of a KB.
func (s *Store) forget(name string) {
	s.mu.Lock()
	delete(s.stats, name)
	delete(s.an, name)
	delete(s.decoded, name)
	s.mu.Unlock()
}

// Stats counts a KB's documents, chunks, vectors and source bytes, as
// committed with its last write.
func (s *Store) Stats(ctx context.Context, name string) (kefu.KBStats, error) {
	rec, err := s.record(ctx, name)
	if err != nil {
		return kefu.KBStats{}, err
	}
	st := rec.Stats
	return kefu.KBStats{Documents: st.Documents, Chunks: st.Chunks, Vectors: st.Vectors, Bytes: st.Bytes}, nil
}
