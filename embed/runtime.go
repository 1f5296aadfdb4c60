package embed

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/kefu-dev/kefu"
	ort "github.com/yalue/onnxruntime_go"
)

// ORTLibName is the file name of the ONNX Runtime library onnxruntime_go
// v1.27.0 loads (release 1.24.x).
const ORTLibName = "libonnxruntime.so.1"

// EnvORTLib names the environment variable that points at the library.
const EnvORTLib = "KEFU_ORT_LIB"

// BuiltinORTLib is the library path baked in at build time:
//
//	go build -ldflags "-X github.com/kefu-dev/kefu/embed.BuiltinORTLib=/abs/path/libonnxruntime.so.1"
var BuiltinORTLib string

// FindRuntime returns the path of the ONNX Runtime library. It looks, in
// order, at explicit (the --ort-lib flag or the config), $KEFU_ORT_LIB,
// <executable dir>/../third_party/onnxruntime/ and <executable dir>/,
// BuiltinORTLib, and third_party/onnxruntime/ under the working directory.
// An explicit path or $KEFU_ORT_LIB that does not exist is an error rather
// than a reason to look further, so a typo is not silently ignored.
func FindRuntime(explicit string) (string, error) {
	if explicit != "" {
		return existing(explicit, "--ort-lib")
	}
	if env := os.Getenv(EnvORTLib); env != "" {
		return existing(env, "$"+EnvORTLib)
	}
	var tried []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		tried = append(tried,
			filepath.Join(dir, "..", "third_party", "onnxruntime", ORTLibName),
			filepath.Join(dir, ORTLibName))
	}
	if BuiltinORTLib != "" {
		tried = append(tried, BuiltinORTLib)
	}
	if wd, err := os.Getwd(); err == nil {
		tried = append(tried, filepath.Join(wd, "third_party", "onnxruntime", ORTLibName))
	}
	for _, p := range tried {
		if isFile(p) {
			return filepath.Clean(p), nil
		}
	}
	return "", kefu.Errorf(kefu.EUNAVAILABLE,
		"ONNX Runtime library %s not found (looked in %s); run `make ort`, or point the --ort-lib flag or $%s at it",
		ORTLibName, strings.Join(tried, ", "), EnvORTLib)
}

func existing(path, setting string) (string, error) {
	if !isFile(path) {
		return "", kefu.Errorf(kefu.EUNAVAILABLE,
			"ONNX Runtime library %q (from %s) does not exist; fix %s, or run `make ort` and unset it (the --ort-lib flag, $%s)",
			path, setting, setting, EnvORTLib)
	}
	return path, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

var runtimeState struct {
	sync.Mutex
	path string // the library the environment was initialised with
}

// InitRuntime loads the ONNX Runtime library at path (found with FindRuntime
// when path is "") and initialises its environment once per process. Later
// calls with the same or an empty path are no-ops; a different path is an
// error, since a process can hold only one ONNX Runtime. Safe for concurrent
// callers.
func InitRuntime(path string) error {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.path != "" {
		if path != "" && !samePath(path, runtimeState.path) {
			return kefu.Errorf(kefu.ECONFLICT, "ONNX Runtime already loaded from %s, cannot load %s too", runtimeState.path, path)
		}
		return nil
	}
	if path == "" {
		p, err := FindRuntime("")
		if err != nil {
			return err
		}
		path = p
	} else if _, err := existing(path, "--ort-lib"); err != nil {
		return err
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return kefu.Errorf(kefu.EUNAVAILABLE, "ONNX Runtime %s could not be loaded (it must be release 1.24.x; `make ort` fetches it): %w", path, err)
	}
	runtimeState.path = path
	return nil
}

func samePath(a, b string) bool {
	if a == b {
		return true
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
