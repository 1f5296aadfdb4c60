package ingest

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kefu-dev/kefu"
)

// Walk lists the files under root (or root itself, when it is a file) as
// uploads named by their slash-separated path relative to root. Hidden
// files and folders, Docusaurus _category_.json files and files of unknown
// type are skipped, each reported with the reason.
func Walk(root string) ([]kefu.Upload, []kefu.Failure) {
	var ups []kefu.Upload
	var skipped []kefu.Failure
	skip := func(name, why string) {
		skipped = append(skipped, kefu.Failure{Source: name, Code: kefu.EUNSUPPORTED, Reason: why})
	}
	st, err := os.Stat(root)
	if err != nil {
		return nil, []kefu.Failure{{Source: root, Code: kefu.ENOTFOUND, Reason: errText(root, err)}}
	}
	if !st.IsDir() {
		name := filepath.Base(root)
		if why := skipReason(name); why != "" {
			skip(name, why)
			return nil, skipped
		}
		return []kefu.Upload{fileUpload(root, name, st.Size())}, nil
	}
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, relErr := filepath.Rel(root, path)
		if relErr != nil || rel == "." {
			if err != nil {
				skipped = append(skipped, kefu.Failure{Source: root, Code: kefu.EINVALID, Reason: errText(root, err)})
			}
			return nil
		}
		name := filepath.ToSlash(rel)
		if err != nil {
			skipped = append(skipped, kefu.Failure{Source: name, Code: kefu.EINVALID, Reason: errText(path, err)})
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			skip(name, "hidden")
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			skip(name, "not a regular file")
			return nil
		}
		if why := skipReason(name); why != "" {
			skip(name, why)
			return nil
		}
		info, err := d.Info()
		size := int64(-1)
		if err == nil {
			size = info.Size()
		}
		ups = append(ups, fileUpload(path, name, size))
		return nil
	})
	return ups, skipped
}

// errText is a file system error without the path it names (the failure's
// Source says which file).
func errText(path string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return strings.TrimPrefix(err.Error(), path+": ")
}

func fileUpload(path, name string, size int64) kefu.Upload {
	return kefu.Upload{
		Name: name,
		Size: size,
		Open: func() (io.ReadCloser, error) { return os.Open(path) },
	}
}

// Uploads turns the files and folders a user names into uploads: folders
// are walked (Walk, whose skipped files it returns), files are taken as
// they are, whatever their type (parsing says when it cannot read one). A
// path that does not exist is an ENOTFOUND error.
func Uploads(paths []string) ([]kefu.Upload, []kefu.Failure, error) {
	var ups []kefu.Upload
	var skipped []kefu.Failure
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, kefu.Errorf(kefu.ENOTFOUND, "%s: %v", p, err)
		}
		if st.IsDir() {
			u, s := Walk(p)
			ups = append(ups, u...)
			skipped = append(skipped, s...)
			continue
		}
		ups = append(ups, fileUpload(p, filepath.Base(p), st.Size()))
	}
	return ups, skipped, nil
}
