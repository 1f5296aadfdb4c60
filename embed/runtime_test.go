package embed

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kefu-dev/kefu"
	"github.com/kefu-dev/kefu/internal/testenv"
)

func TestFindRuntime(t *testing.T) {
	lib := testenv.RequireORT(t)
	t.Setenv(EnvORTLib, "")
	t.Chdir(t.TempDir())
	saved := BuiltinORTLib
	t.Cleanup(func() { BuiltinORTLib = saved })
	BuiltinORTLib = ""

	_, err := FindRuntime("")
	if kefu.ErrorCode(err) != kefu.EUNAVAILABLE {
		t.Fatalf("nothing anywhere: %v", err)
	}
	for _, want := range []string{"--ort-lib", "KEFU_ORT_LIB", "make ort"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if got, err := FindRuntime(lib); err != nil || got != lib {
		t.Errorf("explicit: %q %v", got, err)
	}
	if _, err := FindRuntime("/no/such/libonnxruntime.so.1"); kefu.ErrorCode(err) != kefu.EUNAVAILABLE || !strings.Contains(err.Error(), "--ort-lib") {
		t.Errorf("explicit missing: %v", err)
	}
	BuiltinORTLib = lib
	if got, err := FindRuntime(""); err != nil || got != lib {
		t.Errorf("built in: %q %v", got, err)
	}
	BuiltinORTLib = ""
	local := filepath.Join("third_party", "onnxruntime")
	os.MkdirAll(local, 0o755)
	if err := os.Symlink(lib, filepath.Join(local, ORTLibName)); err != nil {
		t.Fatal(err)
	}
	if got, err := FindRuntime(""); err != nil || !strings.HasSuffix(got, filepath.Join(local, ORTLibName)) {
		t.Errorf("working directory: %q %v", got, err)
	}
	t.Setenv(EnvORTLib, "/no/such/lib.so")
	if _, err := FindRuntime(""); kefu.ErrorCode(err) != kefu.EUNAVAILABLE || !strings.Contains(err.Error(), "$KEFU_ORT_LIB") {
		t.Errorf("env missing: %v", err)
	}
	t.Setenv(EnvORTLib, lib)
	if got, err := FindRuntime(""); err != nil || got != lib {
		t.Errorf("env: %q %v", got, err)
	}
}

func TestInitRuntimeConcurrent(t *testing.T) {
	lib := testenv.RequireORT(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = InitRuntime(lib)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := InitRuntime(""); err != nil {
		t.Errorf("again without a path: %v", err)
	}
	other := filepath.Join(t.TempDir(), ORTLibName)
	os.WriteFile(other, []byte("not a library"), 0o644)
	if err := InitRuntime(other); kefu.ErrorCode(err) != kefu.ECONFLICT {
		t.Errorf("another library: %v", err)
	}
}
