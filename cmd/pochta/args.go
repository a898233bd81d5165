package main

import (
	"cmp"
	"flag"
	"runtime/debug"
)

func newFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseInterleaved parses flags anywhere among the positional arguments
// ("user add a@b --password-stdin"), which flag.Parse alone stops at. After
// "--" everything is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr(err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// dirFlag adds -d to a command's flags, defaulting to the value given before
// the command.
func (c *cli) dirFlag(fs *flag.FlagSet) *string {
	return fs.String("d", c.dir, "installation `DIR`ectory")
}

func (c *cli) requireDir(dir string) error {
	if dir == "" {
		return usagef("no installation directory: give -d DIR (or set POCHTA_DIR)")
	}
	return nil
}

// buildVersion is set by release builds:
// go build -ldflags "-X main.buildVersion=1.2.3" ./cmd/pochta
var buildVersion string

// version reports the release version (if set at link time), else the
// module version, and the VCS revision the binary was built from.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return cmp.Or(buildVersion, "unknown")
	}
	v := cmp.Or(buildVersion, info.Main.Version)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += " (modified)"
			}
		}
	}
	return v
}
