package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// FileName is the configuration file inside the installation directory.
const FileName = "pochta.toml"

// Load reads DIR/pochta.toml over the defaults, applies the overrides
// ("key=value", later ones win) and validates the result. Every error names
// the key it is about.
func Load(dir string, overrides []string) (*Config, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	path := filepath.Join(abs, FileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config: %s does not exist (create it with pochta init -d %s)", path, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(string(data), overrides)
	if err != nil {
		var ke *KeyError
		if !errors.As(err, &ke) {
			return nil, fmt.Errorf("config: %s: %w", path, err)
		}
		return nil, err
	}
	c.Dir = abs
	return c, nil
}

// Parse reads a configuration from TOML text over the defaults, applies
// the overrides and validates the result. It does not look at files.
func Parse(text string, overrides []string) (*Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, err
	}
	c := Default()
	leaves, err := flatten(raw)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(leaves))
	for k := range leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same first error every time
	for _, k := range keys {
		if err := c.set(k, leaves[k]); err != nil {
			return nil, err
		}
	}
	if err := c.Override(overrides); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Override applies "key=value" assignments, as given to -o.
func (c *Config) Override(assignments []string) error {
	for _, a := range assignments {
		key, value, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("config: override %q: want key=value", a)
		}
		if err := c.setString(strings.TrimSpace(key), value); err != nil {
			return err
		}
	}
	return nil
}

// flatten turns the decoded TOML tree into dotted keys. Config has at most
// one level of tables, so anything deeper is an unknown key.
func flatten(raw map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range raw {
		table, ok := v.(map[string]any)
		if !ok {
			out[k] = v
			continue
		}
		if _, known := tableKeys()[k]; !known {
			return nil, keyErr(k, "unknown table")
		}
		for sk, sv := range table {
			if _, nested := sv.(map[string]any); nested {
				return nil, keyErr(k+"."+sk, "unknown table")
			}
			out[k+"."+sk] = sv
		}
	}
	return out, nil
}

func tableKeys() map[string]struct{} {
	t := map[string]struct{}{}
	for _, f := range fields() {
		if f.Table != "" {
			t[f.Table] = struct{}{}
		}
	}
	return t
}

// Path resolves a path from the configuration against the installation
// directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}
