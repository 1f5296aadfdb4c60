package api

import (
	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
)

// KeyRequest is the body of POST /v1/keys. A public key (a chat widget's,
// published in web pages) needs its KB and the origins of those pages.
type KeyRequest struct {
	Scope   kefu.Scope `json:"scope"`
	KB      string     `json:"kb,omitempty"`
	Name    string     `json:"name,omitempty"`
	Origins []string   `json:"origins,omitempty"`
}

// NewKeyResponse carries a new key's secret, shown this once.
type NewKeyResponse struct {
	Secret string `json:"key"`
	*kefu.Key
}

// keyAdmin lets only an admin key for every KB manage keys: a key limited
// to one KB must not mint keys for others.
func (s *Server) keyAdmin(c fiber.Ctx) error {
	if p, _ := c.Locals(localPrincipal).(*principal); p == nil || p.kb != "" {
		return kefu.Errorf(kefu.EFORBIDDEN, "managing keys needs an admin key for every KB")
	}
	if s.cfg.Keys == nil {
		return unavailable("key store")
	}
	return nil
}

func (s *Server) createKey(c fiber.Ctx) error {
	if err := s.keyAdmin(c); err != nil {
		return err
	}
	var req KeyRequest
	if err := s.decode(c, &req, `{"scope", "kb"?, "name"?, "origins"?}`); err != nil {
		return err
	}
	if req.KB != "" {
		if _, err := s.cfg.Store.KB(c.Context(), req.KB); err != nil {
			return err
		}
	}
	secret, key, err := NewKey(req.Scope, req.KB, req.Name, req.Origins...)
	if err != nil {
		return err
	}
	if err := s.cfg.Keys.CreateKey(c.Context(), key); err != nil {
		return err
	}
	if key.Scope == kefu.ScopePublic {
		s.reloadOrigins(c.Context())
	}
	if s.dev.Swap(false) {
		s.log.Warn("development mode ended: an API key now exists, every route needs a key", "key_id", key.ID)
	}
	s.log.Info("API key created", "key_id", key.ID, "scope", key.Scope, "kb", key.KB, "request_id", requestID(c))
	return c.Status(fiber.StatusCreated).JSON(NewKeyResponse{Secret: secret, Key: key})
}

func (s *Server) listKeys(c fiber.Ctx) error {
	if err := s.keyAdmin(c); err != nil {
		return err
	}
	keys, err := s.cfg.Keys.Keys(c.Context())
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []*kefu.Key{}
	}
	return c.JSON(fiber.Map{"keys": keys})
}

func (s *Server) deleteKey(c fiber.Ctx) error {
	if err := s.keyAdmin(c); err != nil {
		return err
	}
	if err := s.cfg.Keys.DeleteKey(c.Context(), c.Params("id")); err != nil {
		return err
	}
	s.reloadOrigins(c.Context())
	s.log.Info("API key deleted", "key_id", c.Params("id"), "request_id", requestID(c))
	return c.SendStatus(fiber.StatusNoContent)
}
