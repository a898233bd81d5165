package imap

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// contextClient is Python's imaplib keeping an updating UID SORT: it
// reads the unsolicited ESEARCH updates after its NOOPs, as its
// untagged_responses collect them, while a second imaplib connection
// changes the mailbox, then cancels. It prints what it gets, one line
// each.
const contextClient = `
import imaplib, re, sys
imaplib.Commands['CANCELUPDATE'] = ('SELECTED',)
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4(host, port)
m.login(user, pw)
m.select('INBOX')
o = imaplib.IMAP4(host, port)
o.login(user, pw)
o.select('INBOX')
caps = m.capability()[1][0].decode().split()  # after login
print('CONTEXT=SEARCH' in caps and 'CONTEXT=SORT' in caps)
typ, _ = m.uid('SORT', 'RETURN (UPDATE ALL)', '(REVERSE SUBJECT)', 'UTF-8', 'UNSEEN')
first = m.response('ESEARCH')[1][0].decode()
tag = re.match(r'\(TAG "([^"]+)"\)', first).group(1)
print(typ, first.replace(tag, 'T'))
def updates():
    m.noop()
    for d in m.response('ESEARCH')[1] or []:
        if d is not None:
            print(d.decode().replace(tag, 'T'))
o.store('2', '+FLAGS', '(\\Seen)')
updates()
o.append('INBOX', None, None, b'Subject: message 9\r\n\r\nnine\r\n')
updates()
o.store('2', '-FLAGS', '(\\Seen)')
updates()
print(m._simple_command('CANCELUPDATE', '"%s"' % tag)[0])
o.store('1', '+FLAGS', '(\\Seen)')
updates()
print('end')
`

func TestContextPythonImaplib(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	e := newEnv(t, envOptions{})
	e.deliver(testUser, testMessage(1), testMessage(2), testMessage(3))
	host, port, _ := net.SplitHostPort(e.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "python3", "-c", contextClient, host, port, testUser, testPass).CombinedOutput()
	if err != nil {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
	want := []string{
		"True",
		`OK (TAG "T") UID ALL 3,2,1`,
		`(TAG "T") UID REMOVEFROM (2 2)`,
		`(TAG "T") UID ADDTO (1 4)`, // "message 9" sorts first in reverse
		`(TAG "T") UID ADDTO (3 2)`,
		"OK",
		"end",
	}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("imaplib:\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
}
