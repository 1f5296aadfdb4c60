// Package atomicfile is the module's one crash-safe file writer: data goes
// to a temporary file in the target's folder, which is synced, renamed over
// the target, and the folder synced, so a reader, or a restart after a
// crash, finds the old file or the new one, never a mix or a part. It
// imports nothing of kefu.
//
// Written here rather than taken from github.com/google/renameio, which
// does not sync the folder after the rename (google/renameio#11): a crash
// could then lose a rename the caller was told had happened.
package atomicfile

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes data to path crash-safely, with permissions perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path, crash-safely and with permissions perm, by what
// write writes to w (buffered). When write fails, path is left as it was
// and the temporary file removed.
func Write(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries created, renamed or removed in dir durable
// (files written and synced one by one, then their folder once). File
// systems that cannot sync a folder (EINVAL) are not an error: they give
// no stronger promise.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
