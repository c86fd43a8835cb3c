//go:build unix

package main

import (
	"os"
	"syscall"
)

// ownedBySelfOrRoot reports whether this process's user or root owns fi.
func ownedBySelfOrRoot(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (st.Uid == 0 || int(st.Uid) == os.Getuid())
}
