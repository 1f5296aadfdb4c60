// Package shared finds the shared folder beside the checkout (../shared):
// the models, datasets and demo data kept outside the repository. It is
// the one place that knows where that folder is; model resolution, the
// benchmarks and the tests all ask it. It imports nothing of kefu.
package shared

import (
	"os"
	"path/filepath"
	"sync"
)

// Env names the environment variable that points at the shared folder.
const Env = "KEFU_SHARED"

// Dir returns the shared folder: $KEFU_SHARED when set (an explicit setting
// wins over a guess), else the first existing of ../shared beside the
// working directory and ../shared beside the module root (go.mod, found
// upwards from the working directory: tests run in their package's
// folder); "" when there is none.
func Dir() string {
	if d := os.Getenv(Env); d != "" {
		return d
	}
	for _, d := range []string{filepath.Join("..", "shared"), beside(ModuleRoot())} {
		if isDir(d) {
			return d
		}
	}
	return ""
}

// beside returns ../shared next to dir, or "" when dir is "".
func beside(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(filepath.Dir(dir), "shared")
}

func isDir(d string) bool {
	st, err := os.Stat(d)
	return d != "" && err == nil && st.IsDir()
}

var moduleRoot = sync.OnceValue(func() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
})

// ModuleRoot returns the folder holding go.mod above the working directory,
// or "" when there is none (an installed binary run elsewhere).
func ModuleRoot() string { return moduleRoot() }
