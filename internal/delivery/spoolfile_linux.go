package delivery

import (
	"os"

	"golang.org/x/sys/unix"
)

// openUnnamed opens an unnamed file in dir with O_TMPFILE.
func openUnnamed(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDWR|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), unnamedPath(dir)), nil
}
