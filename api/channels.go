package api

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v3"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/signature"
)

// The channel webhook: POST /v1/channels/{channel}/messages takes a
// customer's message from any messaging channel in one shape, signed with
// the channel's secret, answers it through the desk (the same pipeline as
// every surface), and returns the reply; a channel with an outbound URL
// also gets the reply (or an agent's later message) posted there, signed
// (event channel.reply). A message id the channel sent before is answered
// with the reply it got then, and changes nothing.

// Bounds of a channel message.
const (
	MaxChannelMessage = 64 << 10 // bytes of the request body
	maxChannelText    = 4096
	maxChannelID      = 256
)

// ChannelMessage is the body of POST /v1/channels/{channel}/messages.
type ChannelMessage struct {
	Channel   string            `json:"channel,omitempty"` // the path's, when given
	EndUser   string            `json:"end_user_id"`       // the channel's id of the customer
	MessageID string            `json:"message_id"`        // the channel's id of the message: a retry sends the same
	Text      string            `json:"text"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// ChannelResponse answers a channel message.
type ChannelResponse struct {
	ConversationID string                 `json:"conversation_id"`
	State          kefu.ConversationState `json:"state"`
	// Replayed: the channel sent this message id before; Reply is the reply
	// it got then, and nothing changed.
	Replayed bool         `json:"replayed"`
	Reply    *kefu.Answer `json:"reply"`
}

// ParseChannelMessage decodes and checks a channel message's body.
func ParseChannelMessage(body []byte, channel string) (*ChannelMessage, error) {
	var m ChannelMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, kefu.Errorf(kefu.EINVALID, `body must be JSON {"end_user_id", "message_id", "text", "metadata"?}: %v`, err)
	}
	if dec.More() {
		return nil, kefu.Errorf(kefu.EINVALID, "trailing data after the JSON object")
	}
	m.Text = strings.TrimSpace(m.Text)
	switch {
	case m.Channel != "" && m.Channel != channel:
		return nil, kefu.Errorf(kefu.EINVALID, "channel %q in the body, %q in the path", m.Channel, channel)
	case m.EndUser == "" || m.MessageID == "" || m.Text == "":
		return nil, kefu.Errorf(kefu.EINVALID, "end_user_id, message_id and text are required")
	case len(m.EndUser) > maxChannelID || len(m.MessageID) > maxChannelID:
		return nil, kefu.Errorf(kefu.ETOOLARGE, "end_user_id or message_id over %d bytes", maxChannelID)
	case len(m.Text) > maxChannelText:
		return nil, kefu.Errorf(kefu.ETOOLARGE, "text over %d bytes", maxChannelText)
	case !utf8.ValidString(m.Text) || !utf8.ValidString(m.EndUser) || !utf8.ValidString(m.MessageID):
		return nil, kefu.Errorf(kefu.EINVALID, "text, end_user_id and message_id must be UTF-8")
	}
	return &m, nil
}

// channelLimit bounds a channel message's body: MaxChannelMessage, or
// --body-limit when that is smaller.
func (s *Server) channelLimit() bodyLimit {
	l := s.jsonLimit()
	if l.max > MaxChannelMessage {
		l = bodyLimit{max: MaxChannelMessage, shown: MaxChannelMessage, flag: "the channel webhook's limit"}
	}
	l.what = "channel message"
	return l
}

// channelMessage is the channel webhook. It authenticates the sender by the
// signature (the channel's secret) before it reads the body: the channel
// must exist and the header's timestamp be fresh; then the body, read
// through Server.body within channelLimit, must match the signature.
func (s *Server) channelMessage(c fiber.Ctx) error {
	d, err := s.desk()
	if err != nil {
		return err
	}
	if s.cfg.Channels == nil {
		return unavailable("channel store")
	}
	name := c.Params("channel")
	ch, err := s.cfg.Channels.Channel(c.Context(), name)
	if err != nil {
		if kefu.ErrorCode(err) == kefu.ENOTFOUND {
			return kefu.Errorf(kefu.ENOTFOUND, "unknown channel %q: create it with POST /v1/channels", name)
		}
		return err
	}
	sig, err := signature.Parse(c.Get(signature.Header))
	if err == nil {
		err = sig.CheckTime(time.Now(), signature.DefaultTolerance)
	}
	if err != nil {
		s.log.Warn("channel message refused: bad signature", "channel", name, "reason", kefu.ErrorMessage(err), "ip", c.IP(), "request_id", requestID(c))
		return err
	}
	r, err := s.body(c, s.channelLimit())
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := sig.Verify(ch.Secret, body); err != nil {
		s.log.Warn("channel message refused: bad signature", "channel", name, "reason", kefu.ErrorMessage(err), "ip", c.IP(), "request_id", requestID(c))
		return err
	}
	if err := s.take(c, s.limits, "channel:"+name); err != nil {
		return err
	}
	m, err := ParseChannelMessage(body, name)
	if err != nil {
		return err
	}
	ans, err := d.Ask(c.Context(), kefu.AskRequest{KB: ch.KB, Question: m.Text, Channel: name, EndUser: m.EndUser,
		ExternalID: m.MessageID, Metadata: m.Metadata}, nil)
	if err != nil {
		return err
	}
	return c.JSON(ChannelResponse{ConversationID: ans.ConversationID, State: ans.State, Replayed: ans.Replayed, Reply: ans})
}

// ChannelRequest is the body of POST /v1/channels and PATCH
// /v1/channels/{channel}; a PATCH changes the fields it sends.
type ChannelRequest struct {
	Name        string  `json:"name"`
	KB          *string `json:"kb"`
	OutboundURL *string `json:"outbound_url"`
	Description *string `json:"description"`
}

// ChannelSecret answers the creation of a channel or the rotation of its
// secret: the signing secret, shown this once.
type ChannelSecret struct {
	Channel *kefu.Channel `json:"channel"`
	Secret  string        `json:"secret"`
}

func (s *Server) channels(c fiber.Ctx) (kefu.ChannelStore, error) {
	if err := globalAdmin(c, "channels"); err != nil {
		return nil, err
	}
	if s.cfg.Channels == nil {
		return nil, unavailable("channel store")
	}
	return s.cfg.Channels, nil
}

// channel returns the store and the route's channel (:channel).
func (s *Server) channel(c fiber.Ctx) (kefu.ChannelStore, *kefu.Channel, error) {
	cs, err := s.channels(c)
	if err != nil {
		return nil, nil, err
	}
	ch, err := cs.Channel(c.Context(), c.Params("channel"))
	if err != nil {
		return nil, nil, err
	}
	return cs, ch, nil
}

func (r *ChannelRequest) apply(ch *kefu.Channel) {
	if r.KB != nil {
		ch.KB = *r.KB
	}
	if r.OutboundURL != nil {
		ch.OutboundURL = *r.OutboundURL
	}
	if r.Description != nil {
		ch.Description = *r.Description
	}
}

func (s *Server) createChannel(c fiber.Ctx) error {
	cs, err := s.channels(c)
	if err != nil {
		return err
	}
	var req ChannelRequest
	if err := s.decode(c, &req, `{"name", "kb", "outbound_url"?, "description"?}`); err != nil {
		return err
	}
	if _, err := cs.Channel(c.Context(), req.Name); err == nil {
		return kefu.Errorf(kefu.ECONFLICT, "channel %q exists", req.Name)
	}
	if err := s.checkReceiver(c, req.OutboundURL); err != nil {
		return err
	}
	ch := &kefu.Channel{Name: req.Name, Secret: signature.NewSecret()}
	req.apply(ch)
	if err := cs.PutChannel(c.Context(), ch); err != nil {
		return err
	}
	s.log.Info("channel created", "channel", ch.Name, "kb", ch.KB, "outbound_url", ch.OutboundURL, "request_id", requestID(c))
	return c.Status(fiber.StatusCreated).JSON(ChannelSecret{Channel: ch, Secret: ch.Secret})
}

func (s *Server) listChannels(c fiber.Ctx) error {
	cs, err := s.channels(c)
	if err != nil {
		return err
	}
	chs, err := cs.Channels(c.Context())
	if err != nil {
		return err
	}
	if chs == nil {
		chs = []*kefu.Channel{}
	}
	return c.JSON(fiber.Map{"channels": chs})
}

func (s *Server) getChannel(c fiber.Ctx) error {
	_, ch, err := s.channel(c)
	if err != nil {
		return err
	}
	return c.JSON(ch)
}

func (s *Server) updateChannel(c fiber.Ctx) error {
	cs, err := s.channels(c)
	if err != nil {
		return err
	}
	var req ChannelRequest
	if err := s.decode(c, &req, `{"kb"?, "outbound_url"?, "description"?}`); err != nil {
		return err
	}
	ch, err := cs.Channel(c.Context(), c.Params("channel"))
	if err != nil {
		return err
	}
	if req.Name != "" && req.Name != ch.Name {
		return kefu.Errorf(kefu.EINVALID, "a channel cannot be renamed")
	}
	if err := s.checkReceiver(c, req.OutboundURL); err != nil {
		return err
	}
	req.apply(ch)
	if err := cs.PutChannel(c.Context(), ch); err != nil {
		return err
	}
	return c.JSON(ch)
}

func (s *Server) deleteChannel(c fiber.Ctx) error {
	cs, err := s.channels(c)
	if err != nil {
		return err
	}
	if err := cs.DeleteChannel(c.Context(), c.Params("channel")); err != nil {
		return err
	}
	s.log.Info("channel deleted", "channel", c.Params("channel"), "request_id", requestID(c))
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) rotateChannel(c fiber.Ctx) error {
	cs, ch, err := s.channel(c)
	if err != nil {
		return err
	}
	ch.Secret = signature.NewSecret()
	if err := cs.PutChannel(c.Context(), ch); err != nil {
		return err
	}
	s.log.Info("channel secret rotated", "channel", ch.Name, "request_id", requestID(c))
	return c.JSON(ChannelSecret{Channel: ch, Secret: ch.Secret})
}
