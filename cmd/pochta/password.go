package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readPassword reads the password from the first line of stdin
// (--password-stdin, for scripts) or, when stdin is a terminal, by
// prompting twice with echo off.
func (c *cli) readPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(c.stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", usagef("--password-stdin: no password on standard input")
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", usagef("--password-stdin: empty password")
		}
		return pw, nil
	}
	f, ok := c.stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", usagef("standard input is not a terminal: use --password-stdin")
	}
	pw, err := c.prompt(f, "Password: ")
	if err != nil {
		return "", err
	}
	again, err := c.prompt(f, "Repeat password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", usagef("the passwords differ")
	}
	if pw == "" {
		return "", usagef("empty password")
	}
	return pw, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// prompt reads one line from the terminal with echo off.
func (c *cli) prompt(f *os.File, text string) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(c.stderr, text)
	defer fmt.Fprintln(c.stderr)
	// Read byte by byte: a buffered reader could swallow the second line.
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := f.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return strings.TrimRight(b.String(), "\r"), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
	}
}
