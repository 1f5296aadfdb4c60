package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api"
	"github.com/kefu-dev/kefu/internal/signature"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// contract is the route table of the HTTP contract, written out here
// independently of the server's own table: method, path and the scope a
// key needs ("" for routes without one).
var contract = []struct {
	method, path string
	scope        kefu.Scope
}{
	{"GET", "/healthz", ""},
	{"GET", "/readyz", ""},
	{"GET", "/metrics", ""},
	{"GET", "/v1/auth", ""},
	{"GET", "/v1/kbs", kefu.ScopeQuery},
	{"POST", "/v1/kbs", kefu.ScopeAdmin},
	{"GET", "/v1/kbs/:kb", kefu.ScopeQuery},
	{"PATCH", "/v1/kbs/:kb", kefu.ScopeAdmin},
	{"DELETE", "/v1/kbs/:kb", kefu.ScopeAdmin},
	{"GET", "/v1/kbs/:kb/export", kefu.ScopeAdmin},
	{"POST", "/v1/kbs/import", kefu.ScopeAdmin},
	{"POST", "/v1/kbs/:kb/documents", kefu.ScopeIngest},
	{"GET", "/v1/jobs/:id", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/documents", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/documents/:id", kefu.ScopeIngest},
	{"DELETE", "/v1/kbs/:kb/documents/:id", kefu.ScopeIngest},
	{"POST", "/v1/kbs/:kb/documents/:id/reindex", kefu.ScopeIngest},
	{"POST", "/v1/kbs/:kb/search", kefu.ScopeQuery},
	{"POST", "/v1/kbs/:kb/ask", kefu.ScopePublic},
	{"POST", "/v1/kbs/:kb/answers/:id/feedback", kefu.ScopePublic},
	{"GET", "/v1/kbs/:kb/feedback", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/unanswered", kefu.ScopeIngest},
	{"POST", "/v1/kbs/:kb/unanswered/actions", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/eval", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/eval/report.html", kefu.ScopeIngest},
	{"POST", "/v1/kbs/:kb/eval", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/eval/jobs/:id", kefu.ScopeIngest},
	{"GET", "/v1/kbs/:kb/chat", kefu.ScopePublic},
	{"GET", "/v1/conversations", kefu.ScopeAgent},
	{"GET", "/v1/conversations/export", kefu.ScopeAgent},
	{"GET", "/v1/conversations/events", kefu.ScopeAgent},
	{"GET", "/v1/kbs/:kb/conversations/:id", kefu.ScopePublic},
	{"GET", "/v1/kbs/:kb/conversations/:id/events", kefu.ScopePublic},
	{"POST", "/v1/kbs/:kb/conversations/:id/:action", kefu.ScopeAgent},
	{"POST", "/v1/channels/:channel/messages", ""}, // signed with the channel's secret
	{"GET", "/v1/channels", kefu.ScopeAdmin},
	{"POST", "/v1/channels", kefu.ScopeAdmin},
	{"GET", "/v1/channels/:channel", kefu.ScopeAdmin},
	{"PATCH", "/v1/channels/:channel", kefu.ScopeAdmin},
	{"DELETE", "/v1/channels/:channel", kefu.ScopeAdmin},
	{"POST", "/v1/channels/:channel/rotate", kefu.ScopeAdmin},
	{"GET", "/v1/webhooks", kefu.ScopeAdmin},
	{"POST", "/v1/webhooks", kefu.ScopeAdmin},
	{"GET", "/v1/webhooks/:id", kefu.ScopeAdmin},
	{"PATCH", "/v1/webhooks/:id", kefu.ScopeAdmin},
	{"DELETE", "/v1/webhooks/:id", kefu.ScopeAdmin},
	{"POST", "/v1/webhooks/:id/rotate", kefu.ScopeAdmin},
	{"POST", "/v1/webhooks/:id/ping", kefu.ScopeAdmin},
	{"GET", "/v1/deliveries", kefu.ScopeAdmin},
	{"GET", "/v1/deliveries/:id", kefu.ScopeAdmin},
	{"POST", "/v1/deliveries/:id/redeliver", kefu.ScopeAdmin},
	{"POST", "/v1/chat/completions", kefu.ScopeQuery},
	{"POST", "/v1/embeddings", kefu.ScopeQuery},
	{"GET", "/v1/models", kefu.ScopeQuery},
	{"GET", "/v1/keys", kefu.ScopeAdmin},
	{"POST", "/v1/keys", kefu.ScopeAdmin},
	{"DELETE", "/v1/keys/:id", kefu.ScopeAdmin},
}

// refused lists, for the scope a route needs, the scopes whose keys it
// refuses (403): admin includes every scope, ingest and agent each include
// query, query includes public.
var refused = map[kefu.Scope][]kefu.Scope{
	kefu.ScopeAdmin:  {kefu.ScopeIngest, kefu.ScopeAgent, kefu.ScopeQuery, kefu.ScopePublic},
	kefu.ScopeIngest: {kefu.ScopeAgent, kefu.ScopeQuery, kefu.ScopePublic},
	kefu.ScopeAgent:  {kefu.ScopeIngest, kefu.ScopeQuery, kefu.ScopePublic},
	kefu.ScopeQuery:  {kefu.ScopePublic},
	kefu.ScopePublic: nil,
}

// walkOrigin is the web origin of the walk's public keys.
const walkOrigin = "https://walk.example"

// TestRouteAuthWalk walks every registered route without a key (401), with
// keys of the scopes it refuses (403), with a key of another KB (403 where
// the route touches a KB) and with a right key (neither 401 nor 403, nor a
// server error). The registered routes must be exactly the contract's.
func TestRouteAuthWalk(t *testing.T) {
	s := getStack(t)
	ctx := context.Background()
	cfg := s.config()
	cfg.WebhookHosts = loopbackReceivers // the walk's webhooks point at 127.0.0.1
	srv, base := serve(t, cfg)

	var registered []string
	for _, r := range srv.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Method == "OPTIONS" {
			continue
		}
		registered = append(registered, r.Method+" "+r.Path)
	}
	var want []string
	for _, r := range contract {
		want = append(want, r.method+" "+r.path)
	}
	sort.Strings(registered)
	sort.Strings(want)
	if strings.Join(registered, "\n") != strings.Join(want, "\n") {
		t.Fatalf("registered routes differ from the contract:\ngot\n%s\nwant\n%s", strings.Join(registered, "\n"), strings.Join(want, "\n"))
	}

	// A KB of the walk's own, with a document, an answer, a job, a
	// conversation, a channel, a webhook and a delivery.
	if err := s.store.CreateKB(ctx, &kefu.KB{Name: "walk", Model: s.emb.ModelID(), Dim: s.emb.Model().Dim}); err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateKB(ctx, &kefu.KB{Name: "walk-other", Model: s.emb.ModelID(), Dim: s.emb.Model().Dim}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.store.DeleteKB(ctx, "walk-other")
		s.store.DeleteKB(ctx, "walk")
		s.store.DeleteChannel(ctx, "walkchan")
		s.store.DeleteChannel(ctx, "walkchan2")
	})
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	job := uploadText(t, base, admin, "walk", "guides/hello.md", "# Hello\n\nKefu answers customers from the team's own documents.\n")
	waitJob(t, base, admin, job.ID)
	ans, err := s.desk.Ask(ctx, kefu.AskRequest{KB: "walk", Question: "What does kefu answer from?"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutChannel(ctx, &kefu.Channel{Name: "walkchan", KB: "walk", Secret: "whsec_walk"}); err != nil {
		t.Fatal(err)
	}
	hook := &kefu.Subscription{ID: "wh_walk", URL: "http://127.0.0.1:1/walk", Events: []kefu.EventType{kefu.EventAnswerUnknown}, Secret: "s"}
	if err := s.store.PutSubscription(ctx, hook); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.DeleteSubscription(ctx, hook.ID) })
	ev, _ := kefu.NewEvent(ctx, kefu.EventPing, "walk", map[string]string{})
	ev.Target = "webhook:wh_walk"
	if err := s.store.Enqueue(ctx, ev); err != nil {
		t.Fatal(err)
	}
	dels, _ := s.store.Deliveries(ctx, kefu.DeliveryFilter{EventID: ev.ID})

	publicKey := s.newPublicKey(t, "walk", walkOrigin)
	keys := map[kefu.Scope]string{
		kefu.ScopeAdmin:  admin,
		kefu.ScopeIngest: s.newKey(t, kefu.ScopeIngest, ""),
		kefu.ScopeAgent:  s.newKey(t, kefu.ScopeAgent, ""),
		kefu.ScopeQuery:  s.newKey(t, kefu.ScopeQuery, ""),
		kefu.ScopePublic: publicKey,
	}
	otherKB := map[kefu.Scope]string{
		kefu.ScopeAdmin:  s.newKey(t, kefu.ScopeAdmin, "walk-other"),
		kefu.ScopeIngest: s.newKey(t, kefu.ScopeIngest, "walk-other"),
		kefu.ScopeAgent:  s.newKey(t, kefu.ScopeAgent, "walk-other"),
		kefu.ScopeQuery:  s.newKey(t, kefu.ScopeQuery, "walk-other"),
		kefu.ScopePublic: s.newPublicKey(t, "walk-other", walkOrigin),
	}
	publicKeys := map[string]bool{publicKey: true, otherKB[kefu.ScopePublic]: true}
	params := strings.NewReplacer(":kb", "walk", ":id", "", ":channel", "walkchan", ":action", "claim")
	idFor := map[string]string{
		"/v1/jobs/:id":                          job.ID,
		"/v1/kbs/:kb/answers/:id/feedback":      ans.ID,
		"/v1/kbs/:kb/documents/:id":             url.PathEscape("guides/hello.md"),
		"/v1/kbs/:kb/documents/:id/reindex":     url.PathEscape("guides/hello.md"),
		"/v1/keys/:id":                          "key_none",
		"/v1/kbs/:kb/conversations/:id":         ans.ConversationID,
		"/v1/kbs/:kb/conversations/:id/events":  ans.ConversationID,
		"/v1/kbs/:kb/conversations/:id/:action": ans.ConversationID,
		"/v1/webhooks/:id":                      hook.ID,
		"/v1/webhooks/:id/rotate":               hook.ID,
		"/v1/webhooks/:id/ping":                 hook.ID,
		"/v1/deliveries/:id":                    dels[0].ID,
		"/v1/deliveries/:id/redeliver":          dels[0].ID,
		"/v1/kbs/:kb/eval/jobs/:id":             "eval_none",
	}
	bodies := map[string]any{
		"POST /v1/kbs":                               map[string]any{"name": "walk-created"},
		"PATCH /v1/kbs/:kb":                          map[string]any{"description": "walked"},
		"POST /v1/kbs/:kb/search":                    map[string]any{"query": "customers"},
		"POST /v1/kbs/:kb/ask":                       map[string]any{"question": "What does kefu answer from?"},
		"POST /v1/kbs/:kb/answers/:id/feedback":      map[string]any{"vote": 1},
		"POST /v1/kbs/:kb/unanswered/actions":        map[string]any{"action": "dismiss", "answer_ids": []string{ans.ID}},
		"POST /v1/chat/completions":                  map[string]any{"model": "walk", "messages": []map[string]string{{"role": "user", "content": "What does kefu answer from?"}}},
		"POST /v1/embeddings":                        map[string]any{"model": s.emb.Model().Name, "input": "hello"},
		"POST /v1/keys":                              map[string]any{"scope": "query", "kb": "walk"},
		"POST /v1/kbs/:kb/eval":                      map[string]any{"questions": `{"question": "hello", "doc_ids": ["guides/hello.md"]}`},
		"POST /v1/channels":                          map[string]any{"name": "walkchan2", "kb": "walk"},
		"PATCH /v1/channels/:channel":                map[string]any{"description": "walked"},
		"POST /v1/webhooks":                          map[string]any{"url": "http://127.0.0.1:1/walk2", "events": []string{"answer.unknown"}},
		"PATCH /v1/webhooks/:id":                     map[string]any{"description": "walked"},
		"POST /v1/channels/:channel/messages":        map[string]any{"end_user_id": "u1", "message_id": "m1", "text": "What does kefu answer from?"},
		"POST /v1/kbs/:kb/documents":                 nil, // multipart, sent by uploadText
		"POST /v1/kbs/:kb/documents/:id/reindex":     nil,
		"POST /v1/kbs/:kb/conversations/:id/:action": nil,
	}
	// Routes that name a KB by another means than :kb. Keys, webhooks and
	// channels need an admin key for every KB.
	kbByOther := map[string]bool{"GET /v1/jobs/:id": true, "POST /v1/chat/completions": true, "POST /v1/kbs": true, "POST /v1/kbs/import": true,
		"GET /v1/keys": true, "POST /v1/keys": true, "DELETE /v1/keys/:id": true}
	for _, r := range contract {
		if strings.HasPrefix(r.path, "/v1/webhooks") || strings.HasPrefix(r.path, "/v1/deliveries") || (strings.HasPrefix(r.path, "/v1/channels") && r.scope != "") {
			kbByOther[r.method+" "+r.path] = true
		}
	}
	// Streams that do not end: their status is read, then they are closed.
	streams := map[string]bool{"GET /v1/conversations/events": true, "GET /v1/kbs/:kb/conversations/:id/events": true}
	t.Cleanup(func() { s.store.DeleteKB(ctx, "walk-created") })

	// Destructive routes go last, so the walk's KB lives through it.
	order := append([]struct {
		method, path string
		scope        kefu.Scope
	}{}, contract...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].method != "DELETE" && order[j].method == "DELETE" })
	sort.SliceStable(order, func(i, j int) bool {
		return order[i].path != "/v1/kbs/:kb" && order[j].path == "/v1/kbs/:kb" && order[j].method == "DELETE"
	})

	do := func(method, path, key string) (int, string) {
		route := method + " " + path
		u := base + params.Replace(path)
		if id, ok := idFor[path]; ok {
			u = base + params.Replace(strings.Replace(strings.Replace(path, ":kb", "walk", 1), ":id", id, 1))
		}
		if route == "POST /v1/kbs/:kb/documents" {
			return uploadStatus(t, base, key, "walk", "walk2.md", "# Walk\n\nA second document.\n")
		}
		h := http.Header{}
		if publicKeys[key] {
			h.Set("Origin", walkOrigin)
		}
		if route == "POST /v1/channels/:channel/messages" {
			b, _ := json.Marshal(bodies[route])
			h.Set(signature.Header, signature.Sign("whsec_walk", time.Now(), b))
			r := callHeaders(t, method, u, key, b, h, nil)
			return r.StatusCode, bodyOf(r)
		}
		if streams[route] {
			return streamStatus(t, u, key, h)
		}
		r := callHeaders(t, method, u, key, bodies[route], h, nil)
		return r.StatusCode, bodyOf(r)
	}
	for _, r := range order {
		route := r.method + " " + r.path
		t.Run(route, func(t *testing.T) {
			if r.scope == "" {
				if code, body := do(r.method, r.path, ""); code == 401 || code == 403 || code >= 500 {
					t.Fatalf("a route without a key, unsigned or signed: %d %s", code, body)
				}
				return
			}
			if code, body := do(r.method, r.path, ""); code != 401 {
				t.Errorf("without a key: %d %s, want 401", code, body)
			}
			if code, _ := do(r.method, r.path, "kefu_not-a-key"); code != 401 {
				t.Errorf("with an unknown key: %d, want 401", code)
			}
			for _, low := range refused[r.scope] {
				if code, body := do(r.method, r.path, keys[low]); code != 403 {
					t.Errorf("with a %s key: %d %s, want 403", low, code, body)
				}
			}
			if strings.Contains(r.path, ":kb") || kbByOther[route] {
				if code, body := do(r.method, r.path, otherKB[r.scope]); code != 403 {
					t.Errorf("with a key of another KB: %d %s, want 403", code, body)
				}
			}
			code, body := do(r.method, r.path, keys[r.scope])
			if code == 401 || code == 403 {
				t.Errorf("with a %s key: %d %s", r.scope, code, body)
			}
			if code >= 500 {
				t.Errorf("with a %s key: %d %s", r.scope, code, body)
			}
		})
	}
}

// TestKBRestrictedLists checks that a KB-restricted key lists only its KB.
func TestKBRestrictedLists(t *testing.T) {
	s := getStack(t)
	_, base := serve(t, s.config())
	key := s.newKey(t, kefu.ScopeQuery, "shop")
	var kbs struct {
		KBs []api.KBView `json:"kbs"`
	}
	call(t, "GET", base+"/v1/kbs", key, nil, &kbs)
	if len(kbs.KBs) != 1 || kbs.KBs[0].Name != "shop" || kbs.KBs[0].Stats.Documents != 1 || kbs.KBs[0].Stats.Chunks != len(s.faq) {
		t.Fatalf("KB list for a shop key: %+v (want shop alone, 1 document, %d chunks)", kbs.KBs, len(s.faq))
	}
	var models struct {
		Data []api.ModelInfo `json:"data"`
	}
	call(t, "GET", base+"/v1/models", key, nil, &models)
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID+"/"+m.Kind)
	}
	if strings.Join(ids, ",") != "shop/kb,"+s.emb.Model().Name+"/embedding" {
		t.Fatalf("models for a shop key: %v", ids)
	}
}

func TestDevModeAndAuthInfo(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	_, dev := serve(t, cfg)
	var info api.AuthInfo
	call(t, "GET", dev+"/v1/auth", "", nil, &info)
	if !info.DevMode || info.Scope == nil || *info.Scope != kefu.ScopeAdmin || info.Warning == "" || info.Agent != "admin" {
		t.Fatalf("dev mode /v1/auth: %+v", info)
	}
	if r := call(t, "GET", dev+"/v1/kbs", "", nil, nil); r.StatusCode != 200 {
		t.Fatalf("dev mode, no key: %d", r.StatusCode)
	}
	// A key sent in dev mode still counts.
	key := s.newKey(t, kefu.ScopeQuery, "shop")
	info = api.AuthInfo{}
	call(t, "GET", dev+"/v1/auth", key, nil, &info)
	if info.Scope == nil || *info.Scope != kefu.ScopeQuery || info.KB != "shop" || info.Agent != "" {
		t.Fatalf("dev mode with a query key: %+v", info)
	}
	agent := s.newKey(t, kefu.ScopeAgent, "shop") // named after the test
	call(t, "GET", dev+"/v1/auth", agent, nil, &info)
	if info.Scope == nil || *info.Scope != kefu.ScopeAgent || info.Agent != t.Name() {
		t.Fatalf("dev mode with an agent key: %+v", info)
	}
	if r := call(t, "DELETE", dev+"/v1/kbs/shop", key, nil, nil); r.StatusCode != 403 {
		t.Fatalf("dev mode, query key deleting a KB: %d", r.StatusCode)
	}

	_, prod := serve(t, s.config())
	info = api.AuthInfo{}
	call(t, "GET", prod+"/v1/auth", "", nil, &info)
	if info.DevMode || info.Scope != nil {
		t.Fatalf("/v1/auth without dev mode and without a key: %+v", info)
	}
	if r := call(t, "GET", prod+"/v1/auth", "kefu_wrong", nil, nil); r.StatusCode != 401 {
		t.Fatalf("/v1/auth with a wrong key: %d", r.StatusCode)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.3.2.1:9": true,
		":8080": false, "0.0.0.0:8080": false, "192.168.1.2:80": false, "[::]:80": false, "example.com:80": false,
	} {
		if got := api.Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v", addr, got)
		}
	}
}

func TestNewKey(t *testing.T) {
	secret, k, err := api.NewKey(kefu.ScopeIngest, "shop", "uploader")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, api.KeyPrefix) || len(secret) != len(api.KeyPrefix)+32 {
		t.Fatalf("secret %q", secret)
	}
	if k.Hash != api.HashSecret(secret) || len(k.Hash) != 64 || strings.Contains(k.Hash, secret) {
		t.Fatalf("hash %q", k.Hash)
	}
	// sha256("abc"), from FIPS 180-2.
	if got := api.HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
	other, _, _ := api.NewKey(kefu.ScopeIngest, "shop", "uploader")
	if other == secret {
		t.Fatal("two keys alike")
	}
	if _, _, err := api.NewKey("root", "", ""); kefu.ErrorCode(err) != kefu.EINVALID {
		t.Fatalf("scope root: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.Rate, cfg.Burst = 0.001, 2 // one token per 1000 s: the third request must wait
	_, base := serve(t, cfg)
	key := s.newKey(t, kefu.ScopeQuery, "")
	other := s.newKey(t, kefu.ScopeQuery, "")
	for i := 0; i < 2; i++ {
		if r := call(t, "GET", base+"/v1/kbs", key, nil, nil); r.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, r.StatusCode)
		}
	}
	var e errorBody
	r := call(t, "GET", base+"/v1/kbs", key, nil, &e)
	if r.StatusCode != 429 || e.Error.Code != kefu.ERATELIMIT {
		t.Fatalf("third request: %d %+v", r.StatusCode, e)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 900 || ra > 1000 {
		t.Fatalf("Retry-After %q, want about 1000 s", r.Header.Get("Retry-After"))
	}
	if r := call(t, "GET", base+"/v1/kbs", other, nil, nil); r.StatusCode != 200 {
		t.Fatalf("another key is limited too: %d", r.StatusCode)
	}
	if r := call(t, "GET", base+"/healthz", "", nil, nil); r.StatusCode != 200 {
		t.Fatalf("healthz is limited: %d", r.StatusCode)
	}
}

// Keys made through the API work at once, end development mode, can be
// listed without their secrets, and stop working when deleted.
func TestKeyRoutes(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode = true
	_, base := serve(t, cfg)
	var made api.NewKeyResponse
	if r := call(t, "POST", base+"/v1/keys", "", map[string]any{"scope": "ingest", "kb": "shop", "name": "uploader"}, &made); r.StatusCode != 201 {
		t.Fatalf("create in dev mode: %d", r.StatusCode)
	}
	if !strings.HasPrefix(made.Secret, api.KeyPrefix) || made.Key == nil || made.Scope != kefu.ScopeIngest || made.KB != "shop" {
		t.Fatalf("created %+v", made)
	}
	// Development mode is over: no key, no access.
	if r := call(t, "GET", base+"/v1/kbs", "", nil, nil); r.StatusCode != 401 {
		t.Fatalf("after the first key, a request without one: %d", r.StatusCode)
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/documents", made.Secret, nil, nil); r.StatusCode != 200 {
		t.Fatalf("the new ingest key on its KB: %d", r.StatusCode)
	}
	admin := s.newKey(t, kefu.ScopeAdmin, "")
	var list struct{ Keys []map[string]any }
	call(t, "GET", base+"/v1/keys", admin, nil, &list)
	found := false
	for _, k := range list.Keys {
		found = found || k["id"] == made.ID
		if _, leaked := k["hash"]; leaked {
			t.Errorf("a listed key shows its hash: %v", k)
		}
	}
	if !found {
		t.Fatalf("created key %s not listed: %v", made.ID, list.Keys)
	}
	if r := call(t, "POST", base+"/v1/keys", admin, map[string]any{"scope": "root"}, nil); r.StatusCode != 400 {
		t.Errorf("unknown scope: %d", r.StatusCode)
	}
	if r := call(t, "DELETE", base+"/v1/keys/"+made.ID, admin, nil, nil); r.StatusCode != 204 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if r := call(t, "GET", base+"/v1/kbs/shop/documents", made.Secret, nil, nil); r.StatusCode != 401 {
		t.Errorf("a deleted key: %d", r.StatusCode)
	}
}

// A server without a key store answers the key routes 503, and JSON bodies
// are read whatever Content-Type the client sent (curl -d sends a form's).
func TestNoKeyStoreAndBodiesWithoutJSONContentType(t *testing.T) {
	s := getStack(t)
	cfg := s.config()
	cfg.DevMode, cfg.Keys = true, nil
	_, base := serve(t, cfg)
	if r := call(t, "GET", base+"/v1/keys", "", nil, nil); r.StatusCode != 503 {
		t.Errorf("GET /v1/keys without a key store: %d, want 503", r.StatusCode)
	}
	for _, ct := range []string{"", "application/x-www-form-urlencoded", "text/plain"} {
		req, err := http.NewRequest("POST", base+"/v1/kbs/shop/search", strings.NewReader(`{"query":"怎么申请退款","k":2}`))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out api.SearchResponse
		err = json.NewDecoder(r.Body).Decode(&out)
		r.Body.Close()
		if r.StatusCode != 200 || err != nil || len(out.Hits) == 0 {
			t.Errorf("search with Content-Type %q: %d, %d hits, %v", ct, r.StatusCode, len(out.Hits), err)
		}
	}
}
