package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// queueCmd: queue list | show ID. The outbound queue holds mail submitted
// for remote recipients until the delivery worker (a later version) sends
// it.
func (c *cli) queueCmd(args []string) error {
	fs := newFlags("queue", c.env)
	dir := c.dirFlag(fs)
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	var id int64
	switch {
	case len(rest) == 1 && rest[0] == "list":
	case len(rest) == 2 && rest[0] == "show":
		if id, err = strconv.ParseInt(rest[1], 10, 64); err != nil {
			return usagef("queue show: %q is not a message id", rest[1])
		}
	default:
		return usagef("usage: pochta queue list | show ID")
	}
	_, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	if rest[0] == "list" {
		msgs, err := st.QueuedMessages(c.ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			fmt.Fprintf(c.stdout, "%d %s %d <%s> %s\n", m.ID, m.Created.UTC().Format(time.RFC3339), m.Size,
				m.Envelope.From, recipientList(m.Envelope.Recipients))
		}
		return nil
	}
	m, err := st.QueuedMessage(c.ctx, id)
	if err != nil {
		return fmt.Errorf("queue show %d: %w", id, err)
	}
	fmt.Fprintf(c.stdout, "id: %d\ncreated: %s\nsize: %d\nfrom: <%s>\nto: %s\n", m.ID,
		m.Created.UTC().Format(time.RFC3339), m.Size, m.Envelope.From, recipientList(m.Envelope.Recipients))
	if m.Envelope.DSNReturn != "" || m.Envelope.DSNEnvelopeID != "" {
		fmt.Fprintf(c.stdout, "dsn: ret=%s envid=%s\n", m.Envelope.DSNReturn, m.Envelope.DSNEnvelopeID)
	}
	fmt.Fprintln(c.stdout)
	body, err := st.QueuedBody(c.ctx, id)
	if err != nil {
		return err
	}
	defer body.Close()
	_, err = io.Copy(c.stdout, body)
	return err
}

func recipientList(rs []store.QueueRecipient) string {
	var out []string
	for _, r := range rs {
		s := "<" + r.Address + ">"
		if r.Notify != "" {
			s += " NOTIFY=" + r.Notify
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}
