package api

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// Bounds of one upload besides its size.
const (
	MaxUploadFiles = 1000 // files in one multipart upload
	maxFieldBytes  = 1024 // a non-file field (doc_id)
	maxParts       = MaxUploadFiles + 16
)

// readUploads reads the files of a multipart/form-data body as it streams
// in, through the upload limit (Server.body): every part named "file" is
// one file, and an optional "doc_id" names a single file's document.
func (s *Server) readUploads(c fiber.Ctx) ([]kefu.Upload, error) {
	ct := string(c.Request().Header.ContentType())
	if err := multipartType(ct); err != nil {
		return nil, err // before reading anything
	}
	r, err := s.body(c, s.uploadLimit())
	if err != nil {
		return nil, err
	}
	return parseUploads(ct, r, s.cfg.UploadLimit)
}

func multipartType(contentType string) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return kefu.Errorf(kefu.EUNSUPPORTED, "send the files as multipart/form-data, one \"file\" field each")
	}
	return nil
}

// parseUploads reads the parts of body, a multipart/form-data stream, the
// files' bytes together at most limit. The bytes are copied, so the ingest
// job can read them after the request is gone. Written over mime/multipart
// rather than Fiber's MultipartForm to read the parts as they come, and
// count the limit over all of them.
func parseUploads(contentType string, body io.Reader, limit int) ([]kefu.Upload, error) {
	if err := multipartType(contentType); err != nil {
		return nil, err
	}
	_, params, _ := mime.ParseMediaType(contentType)
	mr := multipart.NewReader(body, params["boundary"])
	var (
		ups   []kefu.Upload
		docID string
		total int
	)
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, partError(err)
		}
		if i >= maxParts {
			return nil, kefu.Errorf(kefu.ETOOLARGE, "more than %d parts in one upload", maxParts)
		}
		switch part.FormName() {
		case "file":
			if len(ups) == MaxUploadFiles {
				return nil, kefu.Errorf(kefu.ETOOLARGE, "more than %d files in one upload (the most one upload may hold): send them in several", MaxUploadFiles)
			}
			name := part.FileName()
			if name == "" || name == "." || name == "/" {
				return nil, kefu.Errorf(kefu.EINVALID, "a \"file\" part has no file name")
			}
			data, err := io.ReadAll(io.LimitReader(part, int64(limit-total)+1))
			if err != nil {
				return nil, partError(err)
			}
			total += len(data)
			if total > limit {
				return nil, kefu.Errorf(kefu.ETOOLARGE, "upload over %d bytes (--upload-limit), at %s", limit, name)
			}
			ups = append(ups, kefu.Upload{Name: name, Size: int64(len(data)), Open: opener(data)})
		case "doc_id":
			b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
			if err != nil || len(b) > maxFieldBytes {
				return nil, kefu.Errorf(kefu.EINVALID, "doc_id over %d bytes", maxFieldBytes)
			}
			docID = strings.TrimSpace(string(b))
		default:
			_, _ = io.Copy(io.Discard, io.LimitReader(part, int64(limit)))
		}
		part.Close()
	}
	if len(ups) == 0 {
		return nil, kefu.Errorf(kefu.EINVALID, "no \"file\" part in the upload")
	}
	if docID != "" {
		if len(ups) != 1 {
			return nil, kefu.Errorf(kefu.EINVALID, "doc_id names the document of a single file; this upload has %d", len(ups))
		}
		ups[0].DocID = docID
	}
	return ups, nil
}

// partError is the error of a part that cannot be read: the body's own
// (too large, malformed compression, cut short) or a malformed multipart
// stream, in the API's words.
func partError(err error) error {
	var ke *kefu.Error
	if errors.As(err, &ke) {
		return err
	}
	return kefu.Errorf(kefu.EINVALID, "malformed multipart body: the parts do not follow the boundary")
}

func opener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}

func (s *Server) upload(c fiber.Ctx) error {
	if s.cfg.Ingester == nil {
		return unavailable("ingest service")
	}
	ups, err := s.readUploads(c)
	if err != nil {
		return err
	}
	return s.submit(c, c.Params("kb"), ups)
}

// submit starts an ingest job and answers 202 with it.
func (s *Server) submit(c fiber.Ctx, kb string, ups []kefu.Upload) error {
	job, err := s.cfg.Ingester.Submit(c.Context(), kb, ups)
	if err != nil {
		return err
	}
	return s.accepted(c, job)
}

// accepted answers 202 with a job that has started.
func (s *Server) accepted(c fiber.Ctx, job *kefu.Job) error {
	c.Location("/v1/jobs/" + job.ID)
	return c.Status(fiber.StatusAccepted).JSON(job)
}

func (s *Server) getJob(c fiber.Ctx) error {
	if s.cfg.Ingester == nil {
		return unavailable("ingest service")
	}
	j, err := s.cfg.Ingester.Job(c.Params("id"))
	if err != nil {
		return err
	}
	if p := principalOf(c); !p.allows(j.KB) {
		return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", p.kb)
	}
	return c.JSON(j)
}

// listDocuments lists a page of a KB's documents by id (?limit=N&offset=M;
// at most MaxListLimit, also when no limit is given) with the total and,
// when more follow, the next page's offset.
func (s *Server) listDocuments(c fiber.Ctx) error {
	limit, err := queryInt(c, "limit", MaxListLimit, 1, MaxListLimit)
	if err != nil {
		return err
	}
	offset, err := queryInt(c, "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	docs, err := s.cfg.Store.Documents(c.Context(), c.Params("kb"))
	if err != nil {
		return err
	}
	total := len(docs)
	docs = docs[min(offset, total):min(offset+limit, total)]
	if docs == nil {
		docs = []*kefu.Document{}
	}
	page := fiber.Map{"documents": docs, "total": total}
	if offset+limit < total {
		page["next_offset"] = offset + limit
	}
	return c.JSON(page)
}

// docID is the route's {id}, which clients path-escape (ids contain "/").
func docID(c fiber.Ctx) (string, error) {
	id, err := url.PathUnescape(c.Params("id"))
	if err != nil || id == "" {
		return "", kefu.Errorf(kefu.EINVALID, "malformed document id %q", c.Params("id"))
	}
	return id, nil
}

// DocumentView is a document with its chunks.
type DocumentView struct {
	*kefu.Document
	Chunks []*kefu.Chunk `json:"chunks"`
}

func (s *Server) getDocument(c fiber.Ctx) error {
	id, err := docID(c)
	if err != nil {
		return err
	}
	ctx, kb := c.Context(), c.Params("kb")
	doc, err := s.cfg.Store.Document(ctx, kb, id)
	if err != nil {
		return err
	}
	chunks, err := s.cfg.Store.Chunks(ctx, kb, id)
	if err != nil {
		return err
	}
	if chunks == nil {
		chunks = []*kefu.Chunk{}
	}
	return c.JSON(DocumentView{Document: doc, Chunks: chunks})
}

func (s *Server) deleteDocument(c fiber.Ctx) error {
	id, err := docID(c)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteDocument(c.Context(), c.Params("kb"), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// reindex parses a document's stored source again with the KB's current
// settings (kefu.Ingester.Reindex).
func (s *Server) reindex(c fiber.Ctx) error {
	if s.cfg.Ingester == nil {
		return unavailable("ingest service")
	}
	id, err := docID(c)
	if err != nil {
		return err
	}
	job, err := s.cfg.Ingester.Reindex(c.Context(), c.Params("kb"), id)
	if err != nil {
		return err
	}
	return s.accepted(c, job)
}
