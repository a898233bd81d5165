package delivery

import (
	"os"
	"path/filepath"
)

// SpoolPrefix names the spool files that systems without unnamed
// temporary files (O_TMPFILE) create for an instant in the temporary
// directory; the SMTP server removes stale ones at start.
const SpoolPrefix = "pochta-spool-"

// CreateSpoolFile opens a read-write file in the temporary directory that
// holds a message too large to keep in memory. The file has no name while
// it is used, so no crash can leave it behind: on Linux it never has one
// (O_TMPFILE); elsewhere, or on a filesystem without O_TMPFILE, it is
// unlinked right after it is created.
func CreateSpoolFile() (*os.File, error) {
	dir := os.TempDir()
	if f, err := openUnnamed(dir); err == nil {
		return f, nil
	}
	f, err := os.CreateTemp(dir, SpoolPrefix+"*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// unnamedPath is the name an unnamed spool file reports: the directory it
// lives in, for error messages.
func unnamedPath(dir string) string { return filepath.Join(dir, SpoolPrefix+"(unnamed)") }
