package api

import (
	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/signature"
)

// Webhook subscriptions and their deliveries (kefu.WebhookStore). Managing
// them needs an admin key for every KB, as keys do: a subscription may
// cover every KB.

func (s *Server) webhooks(c fiber.Ctx) (kefu.WebhookStore, error) {
	if err := globalAdmin(c, "webhooks"); err != nil {
		return nil, err
	}
	if s.cfg.Webhooks == nil {
		return nil, unavailable("webhook store")
	}
	return s.cfg.Webhooks, nil
}

// subscription returns the store and the route's subscription (:id).
func (s *Server) subscription(c fiber.Ctx) (kefu.WebhookStore, *kefu.Subscription, error) {
	ws, err := s.webhooks(c)
	if err != nil {
		return nil, nil, err
	}
	sub, err := ws.Subscription(c.Context(), c.Params("id"))
	if err != nil {
		return nil, nil, err
	}
	return ws, sub, nil
}

// globalAdmin refuses keys limited to one KB.
func globalAdmin(c fiber.Ctx, what string) error {
	if p := principalOf(c); p.kb != "" {
		return kefu.Errorf(kefu.EFORBIDDEN, "managing %s needs an admin key for every KB", what)
	}
	return nil
}

// checkReceiver checks a URL a request gives kefu to post to (a webhook's,
// a channel's outbound one), when it gives one: its form, and that it is
// not internal unless kefu serve --webhook-allow-hosts allows it
// (kefu.WebhookHosts).
func (s *Server) checkReceiver(c fiber.Ctx, url *string) error {
	if url == nil || *url == "" {
		return nil
	}
	return s.cfg.WebhookHosts.CheckURL(c.Context(), *url)
}

// WebhookRequest is the body of POST /v1/webhooks and PATCH
// /v1/webhooks/{id}; a PATCH changes the fields it sends.
type WebhookRequest struct {
	URL         *string           `json:"url"`
	KB          *string           `json:"kb"` // "" for every KB
	Events      *[]kefu.EventType `json:"events"`
	Description *string           `json:"description"`
	Disabled    *bool             `json:"disabled"`
}

func (r *WebhookRequest) apply(sub *kefu.Subscription) {
	if r.URL != nil {
		sub.URL = *r.URL
	}
	if r.KB != nil {
		sub.KB = *r.KB
	}
	if r.Events != nil {
		sub.Events = *r.Events
	}
	if r.Description != nil {
		sub.Description = *r.Description
	}
	if r.Disabled != nil {
		sub.Disabled = *r.Disabled
	}
}

// WebhookSecret answers the creation of a subscription or the rotation of
// its secret: the signing secret, shown this once.
type WebhookSecret struct {
	Webhook *kefu.Subscription `json:"webhook"`
	Secret  string             `json:"secret"`
}

func (s *Server) createWebhook(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	var req WebhookRequest
	if err := s.decode(c, &req, `{"url", "events": [...], "kb"?, "description"?}`); err != nil {
		return err
	}
	if err := s.checkReceiver(c, req.URL); err != nil {
		return err
	}
	sub := &kefu.Subscription{ID: newID("wh_"), Secret: signature.NewSecret()}
	req.apply(sub)
	if sub.KB != "" {
		if _, err := s.cfg.Store.KB(c.Context(), sub.KB); err != nil {
			return err
		}
	}
	if err := ws.PutSubscription(c.Context(), sub); err != nil {
		return err
	}
	s.log.Info("webhook created", "webhook_id", sub.ID, "url", sub.URL, "kb", sub.KB, "events", sub.Events, "request_id", requestID(c))
	return c.Status(fiber.StatusCreated).JSON(WebhookSecret{Webhook: sub, Secret: sub.Secret})
}

func (s *Server) listWebhooks(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	subs, err := ws.Subscriptions(c.Context())
	if err != nil {
		return err
	}
	if subs == nil {
		subs = []*kefu.Subscription{}
	}
	return c.JSON(fiber.Map{"webhooks": subs})
}

func (s *Server) getWebhook(c fiber.Ctx) error {
	_, sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	return c.JSON(sub)
}

func (s *Server) updateWebhook(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	var req WebhookRequest
	if err := s.decode(c, &req, `{"url"?, "events"?, "kb"?, "description"?, "disabled"?}`); err != nil {
		return err
	}
	if err := s.checkReceiver(c, req.URL); err != nil {
		return err
	}
	sub, err := ws.Subscription(c.Context(), c.Params("id"))
	if err != nil {
		return err
	}
	req.apply(sub)
	if sub.KB != "" {
		if _, err := s.cfg.Store.KB(c.Context(), sub.KB); err != nil {
			return err
		}
	}
	if err := ws.PutSubscription(c.Context(), sub); err != nil {
		return err
	}
	return c.JSON(sub)
}

func (s *Server) deleteWebhook(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	if err := ws.DeleteSubscription(c.Context(), c.Params("id")); err != nil {
		return err
	}
	s.log.Info("webhook deleted", "webhook_id", c.Params("id"), "request_id", requestID(c))
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) rotateWebhook(c fiber.Ctx) error {
	ws, sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	sub.Secret = signature.NewSecret()
	if err := ws.PutSubscription(c.Context(), sub); err != nil {
		return err
	}
	s.log.Info("webhook secret rotated", "webhook_id", sub.ID, "request_id", requestID(c))
	return c.JSON(WebhookSecret{Webhook: sub, Secret: sub.Secret})
}

// pingWebhook sends a "ping" event to one subscription, through the outbox
// like any other, so the delivery log shows whether the receiver answers.
func (s *Server) pingWebhook(c fiber.Ctx) error {
	ws, sub, err := s.subscription(c)
	if err != nil {
		return err
	}
	ev, err := kefu.NewEvent(c.Context(), kefu.EventPing, sub.KB, fiber.Map{"webhook_id": sub.ID, "url": sub.URL})
	if err != nil {
		return err
	}
	ev.Target = kefu.TargetSubscription + ":" + sub.ID
	if err := ws.Enqueue(c.Context(), ev); err != nil {
		return err
	}
	s.notify()
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"event_id": ev.ID})
}

func (s *Server) notify() {
	if s.cfg.Notify != nil {
		s.cfg.Notify()
	}
}

// listDeliveries lists deliveries, newest first: ?webhook=ID or
// ?channel=NAME, ?state=, ?kb=, ?event_id=, ?limit= (default 50, most
// 1000).
func (s *Server) listDeliveries(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	f := kefu.DeliveryFilter{State: kefu.DeliveryState(c.Query("state")), KB: c.Query("kb"), EventID: c.Query("event_id"), Limit: limit}
	switch {
	case c.Query("webhook") != "":
		f.Target, f.TargetID = kefu.TargetSubscription, c.Query("webhook")
	case c.Query("channel") != "":
		f.Target, f.TargetID = kefu.TargetChannel, c.Query("channel")
	}
	switch {
	case f.State != "" && f.State != kefu.DeliveryPending && f.State != kefu.DeliveryDelivered && f.State != kefu.DeliveryDead:
		return kefu.Errorf(kefu.EINVALID, "state %q: use pending, delivered or dead", f.State)
	case f.Limit <= 0 || f.Limit > 1000:
		return kefu.Errorf(kefu.EINVALID, "limit must be in [1, 1000]")
	}
	ds, err := ws.Deliveries(c.Context(), f)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []kefu.Delivery{}
	}
	return c.JSON(fiber.Map{"deliveries": ds})
}

// DeliveryView is a delivery with its event.
type DeliveryView struct {
	kefu.Delivery
	Event *kefu.Event `json:"event,omitempty"` // nil once pruned
}

func (s *Server) getDelivery(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	d, err := ws.Delivery(c.Context(), c.Params("id"))
	if err != nil {
		return err
	}
	ev, _ := ws.Event(c.Context(), d.EventID)
	return c.JSON(DeliveryView{Delivery: *d, Event: ev})
}

// redeliver makes a delivery (dead, delivered or pending) due now, retried
// for another retry window.
func (s *Server) redeliver(c fiber.Ctx) error {
	ws, err := s.webhooks(c)
	if err != nil {
		return err
	}
	d, err := ws.Redeliver(c.Context(), c.Params("id"))
	if err != nil {
		return err
	}
	s.notify()
	s.log.Info("delivery redelivered by hand", "delivery_id", d.ID, "event_id", d.EventID, "request_id", requestID(c))
	return c.JSON(d)
}
