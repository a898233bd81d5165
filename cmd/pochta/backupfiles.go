package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// installDirs are the directories of an installation, besides messages/,
// that a restore needs to be the same server: the DKIM keys (losing them
// means publishing new DNS records) and ACME's account and certificates.
// The store's backup already takes the files at the top of the directory
// (pochta.toml, fetch.key, certificates); the store knows nothing of these.
var installDirs = []string{"dkim", "acme"}

// copyInstallFiles copies installDirs from src into dst, keeping each
// file's mode. A file dst already has is left alone
// and reported in kept: a restore never overwrites a key or a
// configuration the operator has in place.
func copyInstallFiles(src, dst string) (copied, kept []string, err error) {
	for _, name := range installDirs {
		top := filepath.Join(src, name)
		if _, err := os.Stat(top); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, path)
			if err != nil {
				return err
			}
			to := filepath.Join(dst, rel)
			info, err := d.Info()
			if err != nil {
				return err
			}
			if d.IsDir() {
				return os.MkdirAll(to, info.Mode().Perm())
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			switch done, err := copyNewFile(path, to, info.Mode().Perm()); {
			case err != nil:
				return err
			case done:
				copied = append(copied, rel)
			default:
				kept = append(kept, rel)
			}
			return nil
		})
		if err != nil {
			return copied, kept, fmt.Errorf("copying %s: %w", top, err)
		}
	}
	return copied, kept, nil
}

// copyNewFile copies from to a new file to with mode perm, synced; it
// reports false, and writes nothing, when to already exists.
func copyNewFile(from, to string, perm fs.FileMode) (bool, error) {
	in, err := os.Open(from)
	if err != nil {
		return false, err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return false, err
	}
	return true, nil
}
