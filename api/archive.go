package api

import (
	"bufio"
	"context"
	"fmt"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// ArchiveContentType is the media type of a KB archive (.kefu): a
// zstd-compressed tar.
const ArchiveContentType = "application/zstd"

// exportKB streams KB :kb as an archive (GET /v1/kbs/{kb}/export). The
// archive is written as it is made, one batch of documents in memory at a
// time; an export that fails midway ends the response without the
// archive's last entry, so no import takes it for whole.
func (s *Server) exportKB(c fiber.Ctx) error {
	if s.cfg.Archiver == nil {
		return unavailable("archiver")
	}
	name := c.Params("kb")
	if _, err := s.cfg.Store.KB(c.Context(), name); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, ArchiveContentType)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`.kefu"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithCancel(s.base)
	reqID := requestID(c)
	// fasthttp runs the writer in a goroutine of its own as soon as it is
	// set; Shutdown waits for it.
	s.bg.Add(1)
	c.RequestCtx().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.bg.Done()
		defer cancel()
		sum, err := s.cfg.Archiver.ExportKB(ctx, w, name)
		if err == nil {
			err = w.Flush()
		}
		if err != nil {
			s.log.Warn("export ended early; the client has an incomplete archive, which imports refuse", "kb", name, "request_id", reqID, "err", err)
			return
		}
		s.log.Info("exported", "kb", name, "request_id", reqID, "documents", sum.Documents, "bytes", sum.Bytes)
	})
	return nil
}

// importKB reads an archive, the request body, into a new KB (POST
// /v1/kbs/import?as=NAME&reembed=true). It needs an admin key for every KB:
// it creates one. The archive is bounded by --import-limit.
func (s *Server) importKB(c fiber.Ctx) error {
	if s.cfg.Archiver == nil {
		return unavailable("archiver")
	}
	if p := principalOf(c); p.kb != "" {
		return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q; importing creates one: use an admin key for every knowledge base", p.kb)
	}
	reembed, err := queryBool(c, "reembed")
	if err != nil {
		return err
	}
	n := int64(s.cfg.ImportLimit)
	body, err := s.body(c, bodyLimit{max: n, shown: n, what: "archive", flag: "--import-limit"})
	if err != nil {
		return err
	}
	res, err := s.cfg.Archiver.ImportKB(c.Context(), body, kefu.ImportRequest{
		Name: c.Query("as"), Reembed: reembed,
		MaxBytes: int64(s.cfg.ImportLimit) * importUnpacked, MaxBytesName: fmt.Sprintf("%d × --import-limit", importUnpacked),
	})
	if err != nil {
		return err
	}
	s.log.Info("imported", "kb", res.KB.Name, "request_id", requestID(c), "documents", res.Counts.Documents, "reembedded", res.Reembedded)
	return c.Status(fiber.StatusCreated).JSON(res)
}

// importUnpacked is how many times --import-limit an archive may unpack
// to: text compresses about 4×, vectors barely.
const importUnpacked = 8
