package main

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// checkKEKFile refuses a key-encryption key file that other users of the
// machine can read or replace, and warns when its group can read it. The
// directories that lead to it count too: the link's (as in a Kubernetes
// secret volume) and the file's. A directory anyone can write to is
// refused unless it has the sticky bit and the file is the issuer's user's
// or root's, since otherwise anyone could put a key of their own there.
func checkKEKFile(path string, log *slog.Logger) error {
	if runtime.GOOS == "windows" {
		return nil // permission bits are not access control there
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("key-encryption key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key-encryption key file %s is not a regular file", path)
	}
	fix := fmt.Sprintf("chmod 600 %s (or 640 with a group only the issuer runs in; on Kubernetes, defaultMode: 0400 on the secret volume)", path)
	switch perm := fi.Mode().Perm(); {
	case perm&0o004 != 0:
		return fmt.Errorf("refusing the key-encryption key file %s: every user of this machine can read it (mode %s); %s", path, perm, fix)
	case perm&0o022 != 0:
		return fmt.Errorf("refusing the key-encryption key file %s: users other than its owner can write it (mode %s); %s", path, perm, fix)
	case perm&0o040 != 0:
		log.Warn("the key-encryption key file is readable by its group; make sure only the issuer runs in it", "path", path, "mode", perm.String())
	}

	dirs := []string{filepath.Dir(path)}
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for i, dir := range dirs {
		di, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("key-encryption key file's directory: %w", err)
		}
		m := di.Mode()
		switch {
		case m.Perm()&0o002 != 0 && m&fs.ModeSticky == 0:
			return fmt.Errorf("refusing the key-encryption key file %s: every user of this machine can replace it, since its directory %s is writable by all (mode %s); keep the key in a directory only its owner can write", path, dir, m.Perm())
		case m.Perm()&0o002 != 0:
			// The sticky bit keeps others from replacing a file they do
			// not own, not from having put it there.
			entry := path
			if i > 0 {
				entry, _ = filepath.EvalSymlinks(path)
			}
			if li, err := os.Lstat(entry); err != nil || !ownedBySelfOrRoot(li) {
				return fmt.Errorf("refusing the key-encryption key file %s: it sits in %s, which every user can write to, and belongs to another user", path, dir)
			}
		case m.Perm()&0o020 != 0:
			log.Warn("the key-encryption key file's directory is writable by its group, whose members could replace the key", "dir", dir, "mode", m.Perm().String())
		}
	}
	return nil
}
