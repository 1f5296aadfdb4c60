package testenv

import (
	"bufio"
	"bytes"
	"os/exec"
	"testing"
)

// OutputLines starts a command (a test client or receiver, e.g. a Node
// script) and hands the lines it prints over a channel, closed when its
// output ends, so a test can act between them. The process is killed when
// the test ends; its standard error is logged if the test failed.
func OutputLines(t testing.TB, name string, args ...string) <-chan []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan []byte, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			ch <- bytes.Clone(sc.Bytes())
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("%s stderr:\n%s", name, stderr.String())
		}
	})
	return ch
}
