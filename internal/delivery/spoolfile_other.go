//go:build !linux

package delivery

import (
	"errors"
	"os"
)

// openUnnamed is not available without O_TMPFILE.
func openUnnamed(string) (*os.File, error) { return nil, errors.ErrUnsupported }
