package sqlite

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// lockByte write-locks byte n of f with an open file description lock
// (F_OFD_SETLK): it belongs to f's description, not to the process, so
// two Stores of one process exclude each other as two processes do, and
// closing f (or the process ending) releases it. It reports false when
// another description holds the byte.
func lockByte(f *os.File, n int64) (bool, error) {
	err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: n, Len: 1})
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		return false, nil
	}
	return err == nil, err
}

// unlockByte releases what lockByte took.
func unlockByte(f *os.File, n int64) error {
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &unix.Flock_t{Type: unix.F_UNLCK, Whence: io.SeekStart, Start: n, Len: 1})
}
