package tlsrpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// The file a Recorder is saved to: its days, each with its domains'
// figures (a Failure is a map key in memory, a list entry here).
type savedDay struct {
	Start   time.Time    `json:"start"`
	Domains []savedStats `json:"domains"`
}

type savedStats struct {
	Policy   Policy         `json:"policy"`
	Success  int64          `json:"success"`
	Failures []savedFailure `json:"failures,omitempty"`
}

type savedFailure struct {
	Failure
	Count int64 `json:"count"`
}

// Save writes the counts to path, replacing the file whole (a temporary
// file, fsync, rename, fsync of the directory), so a crash leaves the old
// counts or the new ones. It does nothing when nothing changed since the
// last Save or Load.
func (r *Recorder) Save(path string) error {
	r.mu.Lock()
	if r.changes == r.saved {
		r.mu.Unlock()
		return nil
	}
	changes := r.changes
	var days []savedDay
	for start, m := range r.days {
		d := savedDay{Start: start}
		for _, s := range m {
			ss := savedStats{Policy: s.Policy, Success: s.Success}
			for f, n := range s.Failures {
				ss.Failures = append(ss.Failures, savedFailure{Failure: f, Count: n})
			}
			d.Domains = append(d.Domains, ss)
		}
		days = append(days, d)
	}
	b, err := json.Marshal(days)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, b); err != nil {
		return fmt.Errorf("tlsrpt: saving counts: %w", err)
	}
	r.mu.Lock()
	r.saved = max(r.saved, changes)
	r.mu.Unlock()
	return nil
}

// Load adds the counts saved at path to r's; a missing file is no counts.
func (r *Recorder) Load(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlsrpt: loading counts: %w", err)
	}
	var days []savedDay
	if err := json.Unmarshal(b, &days); err != nil {
		return fmt.Errorf("tlsrpt: loading counts from %s: %w", path, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range days {
		for _, ss := range d.Domains {
			s := r.stats(d.Start, ss.Policy)
			if s == nil {
				continue
			}
			s.Success += ss.Success
			for _, f := range ss.Failures {
				s.Failures[f.Failure] += f.Count
			}
		}
	}
	// What was loaded is on disk already.
	r.saved = r.changes
	return nil
}

// writeFileAtomic replaces path with b durably.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
