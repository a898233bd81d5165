// Command maildirput copies message files into Maildirs the way a delivery
// agent would (write to tmp/, rename into new/), naming each file with the
// ",S=<size>,W=<size>" fields Dovecot's own delivery adds, so Dovecot does
// not have to open a message to learn its size. The messages have CRLF line
// endings, so the physical and the virtual (CRLF) sizes are equal.
//
//	maildirput -src DIR MAILDIR...
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	src := flag.String("src", "", "directory of message files (copied in name order)")
	uid := flag.Int("uid", -1, "chown created files and directories to this uid (with -gid)")
	gid := flag.Int("gid", -1, "group id for -uid")
	flag.Parse()
	if *src == "" || flag.NArg() == 0 {
		log.Fatal("usage: maildirput -src DIR [-uid N -gid N] MAILDIR...")
	}
	entries, err := os.ReadDir(*src)
	if err != nil {
		log.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(*src, e.Name()))
		}
	}
	slices.Sort(files)
	o := owner{uid: *uid, gid: *gid}
	// Unique names need only differ per delivery: time, a counter and
	// our pid, as in the Maildir spec.
	stamp := time.Now().Unix()
	seq := 0
	for _, md := range flag.Args() {
		for _, sub := range []string{"", "tmp", "new", "cur"} {
			dir := filepath.Join(md, sub)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				log.Fatal(err)
			}
			o.chown(dir)
		}
		for _, f := range files {
			seq++
			if err := put(md, f, fmt.Sprintf("%d.M%dP%d.bench", stamp, seq, os.Getpid()), o); err != nil {
				log.Fatal(err)
			}
		}
	}
}

type owner struct{ uid, gid int }

func (o owner) chown(path string) {
	if o.uid >= 0 {
		if err := os.Chown(path, o.uid, o.gid); err != nil {
			log.Fatal(err)
		}
	}
}

func put(maildir, file, base string, o owner) error {
	in, err := os.Open(file)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := filepath.Join(maildir, "tmp", base)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Close()
	} else {
		out.Close()
	}
	if err != nil {
		return err
	}
	o.chown(tmp)
	return os.Rename(tmp, filepath.Join(maildir, "new", fmt.Sprintf("%s,S=%d,W=%d", base, n, n)))
}
