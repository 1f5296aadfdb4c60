package api

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// KBView is a KB as the API shows it: with its stats, and with the LLM key
// replaced by RedactedKey.
type KBView struct {
	*kefu.KB
	Stats kefu.KBStats `json:"stats"`
	// Confidence says in a line how the KB's confidence is calibrated
	// (settings.calibration has the details).
	Confidence string `json:"confidence"`
}

// RedactedKey stands for a KB's LLM API key in responses; sending it back
// in a PATCH keeps the stored key, unless the base URL changes.
const RedactedKey = kefu.RedactedKey

func (s *Server) view(c fiber.Ctx, kb *kefu.KB) (KBView, error) {
	st, err := s.cfg.Store.Stats(c.Context(), kb.Name)
	return KBView{KB: kb.Redacted(), Stats: st, Confidence: kb.Settings.Calibration.Summary()}, err
}

func (s *Server) listKBs(c fiber.Ctx) error {
	p := principalOf(c)
	kbs, err := s.cfg.Store.KBs(c.Context())
	if err != nil {
		return err
	}
	out := make([]KBView, 0, len(kbs))
	for _, kb := range kbs {
		if !p.allows(kb.Name) {
			continue
		}
		v, err := s.view(c, kb)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"kbs": out})
}

func (s *Server) getKB(c fiber.Ctx) error {
	kb, err := s.cfg.Store.KB(c.Context(), c.Params("kb"))
	if err != nil {
		return err
	}
	v, err := s.view(c, kb)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// KBRequest is the body of POST /v1/kbs and PATCH /v1/kbs/{kb}. Settings
// are merged into the current ones (the defaults for a new KB) field by
// field: only the fields sent change.
type KBRequest struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Settings    json.RawMessage `json:"settings"`
}

// mergeSettings decodes raw over set; unknown fields are refused.
//
// A KB's LLM key goes only where it was given for: when the request changes
// settings.llm.base_url without giving settings.llm.api_key again, the
// stored key is dropped, so an admin (one limited to this KB included)
// cannot have it sent to a server of their choosing. A new base_url must be
// a URL hosts allows.
func mergeSettings(set *kefu.KBSettings, raw json.RawMessage, hosts *kefu.LLMHosts) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	oldKey, oldURL := "", ""
	if set.LLM != nil {
		oldKey, oldURL = set.LLM.APIKey, set.LLM.BaseURL
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(set); err != nil {
		return jsonError(err, "settings", "settings {\"threshold\", \"floor\", \"llm\", …}")
	}
	if set.LLM == nil {
		return nil
	}
	var sent struct {
		LLM *struct {
			APIKey *string `json:"api_key"`
		} `json:"llm"`
	}
	_ = json.Unmarshal(raw, &sent) // raw decoded above
	given := sent.LLM != nil && sent.LLM.APIKey != nil && *sent.LLM.APIKey != RedactedKey
	if !given {
		set.LLM.APIKey = oldKey
	}
	if set.LLM.BaseURL == oldURL {
		return nil
	}
	if set.LLM.BaseURL != "" {
		if err := hosts.CheckBaseURL(set.LLM.BaseURL); err != nil {
			return kefu.Errorf(kefu.ErrorCode(err), "settings.llm.%s", kefu.ErrorMessage(err))
		}
	}
	if !given {
		set.LLM.APIKey = ""
	}
	return nil
}

func (s *Server) createKB(c fiber.Ctx) error {
	var req KBRequest
	if err := s.decode(c, &req, `{"name", "description"?, "settings"?}`); err != nil {
		return err
	}
	if !principalOf(c).allows(req.Name) {
		return kefu.Errorf(kefu.EFORBIDDEN, "this key is restricted to knowledge base %q", principalOf(c).kb)
	}
	if s.cfg.Embedder == nil {
		return unavailable("embedding model")
	}
	kb := &kefu.KB{Name: req.Name, Model: s.cfg.Embedder.ModelID(), Dim: s.cfg.Embedder.Model().Dim, Settings: kefu.DefaultSettings()}
	if req.Description != nil {
		kb.Description = *req.Description
	}
	if err := mergeSettings(&kb.Settings, req.Settings, s.cfg.LLMHosts); err != nil {
		return err
	}
	if err := s.cfg.Store.CreateKB(c.Context(), kb); err != nil {
		return err
	}
	v, err := s.view(c, kb)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) updateKB(c fiber.Ctx) error {
	var req KBRequest
	if err := s.decode(c, &req, `{"description"?, "settings"?}`); err != nil {
		return err
	}
	kb, err := s.cfg.Store.KB(c.Context(), c.Params("kb"))
	if err != nil {
		return err
	}
	if req.Name != "" && req.Name != kb.Name {
		return kefu.Errorf(kefu.EINVALID, "a knowledge base cannot be renamed")
	}
	if req.Description != nil {
		kb.Description = *req.Description
	}
	if err := mergeSettings(&kb.Settings, req.Settings, s.cfg.LLMHosts); err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateKB(c.Context(), kb); err != nil {
		return err
	}
	v, err := s.view(c, kb)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// deleteKB deletes a KB and cancels its ingest jobs.
func (s *Server) deleteKB(c fiber.Ctx) error {
	if err := s.cfg.Store.DeleteKB(c.Context(), c.Params("kb")); err != nil {
		return err
	}
	if s.cfg.Ingester != nil {
		s.cfg.Ingester.CancelKB(c.Params("kb"))
	}
	return c.SendStatus(fiber.StatusNoContent)
}
