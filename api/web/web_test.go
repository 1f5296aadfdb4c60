package web_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/api/web"
)

// readAll returns every file of the console by path.
func readAll(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := fs.WalkDir(web.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(web.FS(), p)
		files[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	htmlRef   = regexp.MustCompile(`(?:src|href)="([^"#][^"]*)"`)
	jsImport  = regexp.MustCompile(`(?:\bfrom|\bimport\s*\(|new URL\()\s*'([^']+)'`)
	cssURL    = regexp.MustCompile(`url\(\s*["']?([^"')]+)`)
	remoteRef = regexp.MustCompile(`(?i)(?:src|href)\s*=\s*["']?(?:https?:)?//|@import|url\(\s*["']?(?:https?:)?//|from\s*['"](?:https?:)?//|import\(\s*['"](?:https?:)?//|fetch\(\s*['"](?:https?:)?//`)
)

// TestFilesResolve checks that every file index.html, the scripts and the
// style sheet refer to is embedded, and that none is fetched from elsewhere:
// the console works on a closed network.
func TestFilesResolve(t *testing.T) {
	files := readAll(t)
	if _, ok := files["index.html"]; !ok {
		t.Fatal("no index.html at the root of FS()")
	}
	refs := 0
	for p, body := range files {
		var re *regexp.Regexp
		switch path.Ext(p) {
		case ".html":
			re = htmlRef
		case ".js":
			re = jsImport
		case ".css":
			re = cssURL
		default:
			continue
		}
		if m := remoteRef.FindString(body); m != "" {
			t.Errorf("%s loads something from the network: %q", p, m)
		}
		for _, m := range re.FindAllStringSubmatch(body, -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "data:") {
				continue
			}
			target := path.Clean(path.Join(path.Dir(p), strings.SplitN(ref, "?", 2)[0]))
			if _, ok := files[target]; !ok {
				t.Errorf("%s refers to %q (%s), which is not embedded", p, ref, target)
			}
			refs++
		}
	}
	// index.html's stylesheet, icon and entry module, app.js's views…
	if refs < 15 {
		t.Errorf("found only %d references; the patterns no longer match the files", refs)
	}
}

// loadStrings reads strings.json.
func loadStrings(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := fs.ReadFile(web.FS(), "strings.json")
	if err != nil {
		t.Fatal(err)
	}
	var tab map[string]map[string]string
	if err := json.Unmarshal(b, &tab); err != nil {
		t.Fatalf("strings.json: %v", err)
	}
	return tab
}

var placeholder = regexp.MustCompile(`\{(\w+)\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestStringsBilingual checks that English and Chinese have the same keys,
// no empty string, the same placeholders, and that the Chinese table is
// Chinese where it differs from English.
func TestStringsBilingual(t *testing.T) {
	tab := loadStrings(t)
	en, zh := tab["en"], tab["zh"]
	if len(tab) != 2 || len(en) == 0 || len(zh) == 0 {
		t.Fatalf("strings.json has languages %v, want en and zh", slices.Sorted(maps.Keys(tab)))
	}
	han := regexp.MustCompile(`\p{Han}`)
	hanStrings := 0
	for k, e := range en {
		z, ok := zh[k]
		if !ok {
			t.Errorf("zh lacks %q", k)
			continue
		}
		if strings.TrimSpace(e) == "" || strings.TrimSpace(z) == "" {
			t.Errorf("%q is empty in a language", k)
		}
		if pe, pz := placeholders(e), placeholders(z); !slices.Equal(pe, pz) {
			t.Errorf("%q: placeholders %v in English, %v in Chinese", k, pe, pz)
		}
		if han.MatchString(z) {
			hanStrings++
		}
	}
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	if hanStrings < len(zh)*3/4 {
		t.Errorf("only %d of %d Chinese strings contain Chinese", hanStrings, len(zh))
	}
}

var (
	// A key literal: a namespace of the table, a dot, more segments.
	keyLiteral = regexp.MustCompile(`['"]([a-z0-9]+(?:\.[a-z0-9_]+)+)['"]`)
	// A key built at run time: `chat.route.${…}`.
	keyFamily = regexp.MustCompile("`([a-z0-9]+(?:\\.[a-z0-9_]+)*\\.)\\$\\{")
	onState   = regexp.MustCompile(`onState\('(\w+)'\)`)
	modesJS   = regexp.MustCompile(`const MODES = \[([^\]]*)\]`)
	dataPage  = regexp.MustCompile(`data-page="(\w+)"`)
)

// TestStringsUsed checks every key the pages name against the table, the
// keys built at run time against the domain's values (every route, document
// status and search mode has a label), and that no string is dead.
func TestStringsUsed(t *testing.T) {
	tab := loadStrings(t)
	en := tab["en"]
	namespaces := map[string]bool{}
	for k := range en {
		namespaces[strings.SplitN(k, ".", 2)[0]] = true
	}
	files := readAll(t)
	used := map[string]bool{}
	families := map[string]bool{}
	for p, body := range files {
		if ext := path.Ext(p); ext != ".js" && ext != ".html" {
			continue
		}
		for _, m := range keyLiteral.FindAllStringSubmatch(body, -1) {
			k := m[1]
			if !namespaces[strings.SplitN(k, ".", 2)[0]] {
				continue // a file name or a storage key, not a string key
			}
			used[k] = true
			if _, ok := en[k]; !ok {
				t.Errorf("%s uses the key %q, which strings.json lacks", p, k)
			}
		}
		for _, m := range keyFamily.FindAllStringSubmatch(body, -1) {
			families[m[1]] = true
		}
	}

	// The values each family takes, from the domain and from the client.
	values := map[string][]string{
		"chat.route.":  {string(kefu.RouteHandoff), string(kefu.RouteFAQ), string(kefu.RouteGenerated), string(kefu.RouteExtractive), string(kefu.RouteDisclaimer), string(kefu.RouteUnknown), string(kefu.RouteAgent)},
		"docs.status.": {string(kefu.DocPending), string(kefu.DocIndexed), string(kefu.DocFailed)},
		"search.mode.": {string(kefu.ModeHybrid), string(kefu.ModeBM25), string(kefu.ModeDense)},
		"chat.conn.":   {"idle"},
		// Conversations, the inbox, webhooks and the widget snippet.
		"conv.state.":    {string(kefu.StateBot), string(kefu.StateWaiting), string(kefu.StateAgent), string(kefu.StateResolved), string(kefu.StateClosed)},
		"conv.role.":     {string(kefu.RoleCustomer), string(kefu.RoleBot), string(kefu.RoleAgent), string(kefu.RoleNote)},
		"conv.event.":    {kefu.EventHandoff, kefu.EventClaimed, kefu.EventReleased, kefu.EventResolved, kefu.EventReopened, kefu.EventClosed, "other"},
		"conv.route.":    {string(kefu.RouteHandoff), string(kefu.RouteFAQ), string(kefu.RouteGenerated), string(kefu.RouteExtractive), string(kefu.RouteDisclaimer), string(kefu.RouteUnknown), string(kefu.RouteAgent)},
		"inbox.trigger.": {kefu.TriggerSensitive, kefu.TriggerRequest, kefu.TriggerUnknown, kefu.TriggerThumbsDown, kefu.TriggerAgent, "other"},
		"inbox.live.":    {"open", "connecting"},
		"hooks.state.":   {string(kefu.DeliveryPending), string(kefu.DeliveryDelivered), string(kefu.DeliveryDead)},
		"snippet.lang.":  {"zh", "en"},
		// Access notices, the API keys page, evaluation modes.
		"auth.need.":  {string(kefu.ScopeQuery), string(kefu.ScopeIngest), string(kefu.ScopeAgent), string(kefu.ScopeAdmin)},
		"keys.scope.": {string(kefu.ScopePublic), string(kefu.ScopeQuery), string(kefu.ScopeIngest), string(kefu.ScopeAgent), string(kefu.ScopeAdmin)},
		"eval.mode.":  {string(kefu.ModeBM25), string(kefu.ModeDense), string(kefu.ModeHybrid)},
	}
	for _, m := range dataPage.FindAllStringSubmatch(files["index.html"], -1) {
		values["nav."] = append(values["nav."], m[1])
	}
	for _, m := range onState.FindAllStringSubmatch(files["js/api.js"], -1) {
		values["chat.conn."] = append(values["chat.conn."], m[1])
	}
	if len(values["chat.conn."]) < 4 {
		t.Errorf("chat socket states %v: the onState pattern no longer matches api.js", values["chat.conn."])
	}
	for fam := range families {
		vals, ok := values[fam]
		if !ok {
			t.Errorf("the pages build keys %q… that this test does not know the values of", fam)
			continue
		}
		for _, v := range vals {
			if _, ok := en[fam+v]; !ok {
				t.Errorf("no string %q", fam+v)
			}
			used[fam+v] = true
		}
	}
	if m := modesJS.FindStringSubmatch(files["js/views/search.js"]); m == nil {
		t.Error("search.js: no MODES list")
	} else if got := strings.ReplaceAll(strings.ReplaceAll(m[1], "'", ""), " ", ""); got != strings.Join(values["search.mode."], ",") {
		t.Errorf("hit testing offers modes %s, want the domain's %v", got, values["search.mode."])
	}
	for k := range en {
		if !used[k] {
			t.Errorf("strings.json: %q is never used", k)
		}
	}
}

// TestModulesParse checks every console script with Node's parser: one
// syntax error stops the whole console loading, and only the slow browser
// tests would see it otherwise.
func TestModulesParse(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir := t.TempDir()
	for p, src := range readAll(t) {
		if path.Ext(p) != ".js" {
			continue
		}
		f := filepath.Join(dir, strings.ReplaceAll(p, "/", "_")+".mjs") // parsed as an ES module
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("%s does not parse: %s", p, out)
		}
	}
}
