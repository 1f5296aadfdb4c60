package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errUsage is a command line that cannot run; the command has said why.
var errUsage = errors.New("usage")

// usageError says what a command line lacks ("--kb is required") and the
// command's usage line, rather than every flag.
type usageError struct {
	cmd, msg, usage string
}

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// missing returns the usage error of fs's command: msg and the first line
// of fs's usage (the synopsis), which usageLine captures.
func missing(fs *flag.FlagSet, format string, args ...any) error {
	return &usageError{cmd: fs.Name(), msg: fmt.Sprintf(format, args...), usage: usageLine(fs)}
}

// usageLine is the synopsis fs.Usage writes: its lines before the flags.
func usageLine(fs *flag.FlagSet) string {
	var b strings.Builder
	out := fs.Output()
	fs.SetOutput(&b)
	fs.Usage()
	fs.SetOutput(out)
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(l, "  -") {
			break
		}
		lines = append(lines, l)
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// printUsageError writes e for a user: what is missing, the synopsis and
// where to read every flag.
func printUsageError(w io.Writer, e *usageError) {
	fmt.Fprintf(w, "kefu %s: %s\n%s\nRun 'kefu %s -h' for every flag.\n", e.cmd, e.msg, e.usage, e.cmd)
}
