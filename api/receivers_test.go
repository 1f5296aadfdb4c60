package api_test

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
)

// loopbackReceivers is the operator's opt-in (kefu serve
// --webhook-allow-hosts 127.0.0.1) for tests whose webhooks and channels
// point at 127.0.0.1.
var loopbackReceivers = &kefu.WebhookHosts{Nets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// Webhook URLs and channels' outbound URLs that point inside kefu's
// network (loopback, private, link-local such as the cloud metadata
// service, localhost by name) are refused as they are registered or
// changed, with a 403 that says how the operator allows them, and nothing
// is stored; with the operator's opt-in the same URLs are accepted.
func TestInternalReceiversRefused(t *testing.T) {
	s := getStack(t)
	internal := []string{
		"http://127.0.0.1:8080/hook",
		"http://10.1.2.3/hook",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:8080/hook",
		"http://localhost:8080/hook",
	}
	_, base := serve(t, s.config())
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	var hook struct{ Webhook kefu.Subscription }
	if r := call(t, "POST", base+"/v1/webhooks", admin, map[string]any{"url": "https://hooks.example.com/kefu", "events": []string{"answer.unknown"}}, &hook); r.StatusCode != 201 {
		t.Fatalf("a public receiver: %d %s", r.StatusCode, bodyOf(r))
	}
	if r := call(t, "POST", base+"/v1/channels", admin, map[string]string{"name": "refusalmail", "kb": "shop", "outbound_url": "https://bridge.example.com/out"}, nil); r.StatusCode != 201 {
		t.Fatalf("a public outbound URL: %d %s", r.StatusCode, bodyOf(r))
	}
	forbidden := func(what string, r *http.Response) {
		t.Helper()
		body := bodyOf(r)
		if r.StatusCode != 403 || !strings.Contains(body, `"code":"forbidden"`) || !strings.Contains(body, "--webhook-allow-hosts") {
			t.Errorf("%s: %d %s", what, r.StatusCode, body)
		}
	}
	for i, u := range internal {
		r := call(t, "POST", base+"/v1/webhooks", admin, map[string]any{"url": u, "events": []string{"answer.unknown"}}, nil)
		forbidden("POST /v1/webhooks "+u, r)
		r = call(t, "PATCH", base+"/v1/webhooks/"+hook.Webhook.ID, admin, map[string]any{"url": u}, nil)
		forbidden("PATCH /v1/webhooks "+u, r)
		r = call(t, "POST", base+"/v1/channels", admin, map[string]string{"name": "refusal" + string(rune('a'+i)), "kb": "shop", "outbound_url": u}, nil)
		forbidden("POST /v1/channels "+u, r)
		r = call(t, "PATCH", base+"/v1/channels/refusalmail", admin, map[string]string{"outbound_url": u}, nil)
		forbidden("PATCH /v1/channels "+u, r)
	}
	// Nothing refused was stored (the stack's store is shared with other
	// tests: only this test's URLs and names are looked at).
	var hooks struct{ Webhooks []kefu.Subscription }
	call(t, "GET", base+"/v1/webhooks", admin, nil, &hooks)
	for _, h := range hooks.Webhooks {
		if h.ID == hook.Webhook.ID && h.URL != "https://hooks.example.com/kefu" || slices.Contains(internal, h.URL) {
			t.Errorf("webhook after the refusals: %+v", h)
		}
	}
	var chans struct{ Channels []kefu.Channel }
	call(t, "GET", base+"/v1/channels", admin, nil, &chans)
	for _, c := range chans.Channels {
		if c.Name == "refusalmail" && c.OutboundURL != "https://bridge.example.com/out" || slices.Contains(internal, c.OutboundURL) {
			t.Errorf("channel after the refusals: %+v", c)
		}
	}

	// The operator's opt-in: every address listed.
	cfg := s.config()
	allow, err := kefu.ParseWebhookHosts("127.0.0.1,10.0.0.0/8,169.254.169.254,::1,localhost")
	if err != nil {
		t.Fatal(err)
	}
	cfg.WebhookHosts = allow
	_, opted := serve(t, cfg)
	for i, u := range internal {
		var h struct{ Webhook kefu.Subscription }
		if r := call(t, "POST", opted+"/v1/webhooks", admin, map[string]any{"url": u, "events": []string{"answer.unknown"}}, &h); r.StatusCode != 201 {
			t.Errorf("POST /v1/webhooks %s allowed: %d %s", u, r.StatusCode, bodyOf(r))
		}
		name := "opted" + string(rune('a'+i))
		if r := call(t, "POST", opted+"/v1/channels", admin, map[string]string{"name": name, "kb": "shop", "outbound_url": u}, nil); r.StatusCode != 201 {
			t.Errorf("POST /v1/channels %s allowed: %d %s", u, r.StatusCode, bodyOf(r))
		}
		// Other tests share the store: leave no receiver behind.
		call(t, "DELETE", opted+"/v1/webhooks/"+h.Webhook.ID, admin, nil, nil)
		call(t, "DELETE", opted+"/v1/channels/"+name, admin, nil, nil)
	}
	call(t, "DELETE", base+"/v1/webhooks/"+hook.Webhook.ID, admin, nil, nil)
	call(t, "DELETE", base+"/v1/channels/refusalmail", admin, nil, nil)
}
