package main

import (
	"cmp"
	"errors"
	"flag"
	"io"
	"runtime/debug"
	"strconv"
	"strings"
)

// newFlags returns a silent flag set: a flag error is returned (and
// printed once, in our words, by run), never followed by Go's usage dump.
func newFlags(name string, _ env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// flagError rewords the flag package's errors for an operator.
func flagError(fs *flag.FlagSet, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if opt, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		msg = "unknown option " + opt
	} else if opt, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		msg = "option " + opt + " needs a value"
	}
	return usagef("%s: %s (see pochta help)", fs.Name(), msg)
}

// isNegativeNumber tells "-5" (an operand, e.g. a bad quota) from an
// option.
func isNegativeNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return len(s) > 1 && s[0] == '-' && err == nil
}

// parseInterleaved parses flags anywhere among the positional arguments
// ("user add a@b --password-stdin"), which flag.Parse alone stops at. After
// "--" everything is positional; a negative number is an operand.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if len(args) > 0 && isNegativeNumber(args[0]) {
			positional = append(positional, args[0])
			args = args[1:]
			continue
		}
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
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
