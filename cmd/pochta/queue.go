package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/admin"
	"github.com/pochta-mail/pochta/internal/store"
)

const queueUsage = "usage: pochta queue list | show ID | retry ID|all | drop ID"

// queueCmd: queue list | show ID | retry ID|all | drop ID. The outbound
// queue holds mail for remote recipients until the delivery worker of
// pochta serve sends it; these commands work while serve runs.
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
	case len(rest) == 2 && rest[0] == "retry" && rest[1] == "all":
	case len(rest) == 2 && (rest[0] == "show" || rest[0] == "retry" || rest[0] == "drop"):
		if id, err = strconv.ParseInt(rest[1], 10, 64); err != nil {
			return usagef("queue %s: %q is not a message id", rest[0], rest[1])
		}
	default:
		return usagef(queueUsage)
	}
	_, st, err := c.adminStore(*dir)
	if err != nil {
		return err
	}
	defer st.Close()
	q := &admin.Queue{Store: st}
	switch rest[0] {
	case "list":
		msgs, err := q.Messages(c.ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			fmt.Fprintf(c.stdout, "%d %s %d <%s> %s attempts=%d next=%s\n", m.ID, m.Created.UTC().Format(time.RFC3339), m.Size,
				m.Envelope.From, recipientList(m.Envelope.Recipients), m.Attempts, m.NextAttempt.UTC().Format(time.RFC3339))
		}
		return nil
	case "retry":
		if rest[1] == "all" {
			return q.Retry(c.ctx)
		}
		return q.Retry(c.ctx, id)
	case "drop":
		return q.Drop(c.ctx, id)
	}
	m, body, err := q.Message(c.ctx, id)
	if err != nil {
		return err
	}
	defer body.Close()
	fmt.Fprintf(c.stdout, "id: %d\ncreated: %s\nsize: %d\nfrom: <%s>\n", m.ID,
		m.Created.UTC().Format(time.RFC3339), m.Size, m.Envelope.From)
	for _, r := range m.Envelope.Recipients {
		status := string(r.Status)
		if status == "" {
			status = "pending"
		}
		fmt.Fprintf(c.stdout, "to: %s %s", recipientList([]store.QueueRecipient{r}), status)
		if r.Reply != "" {
			fmt.Fprintf(c.stdout, " (%s)", r.Reply)
		}
		fmt.Fprintln(c.stdout)
	}
	fmt.Fprintf(c.stdout, "attempts: %d\nnext attempt: %s\n", m.Attempts, m.NextAttempt.UTC().Format(time.RFC3339))
	if m.LastError != "" {
		fmt.Fprintf(c.stdout, "last error: %s\n", m.LastError)
	}
	if m.Envelope.DSNReturn != "" || m.Envelope.DSNEnvelopeID != "" {
		fmt.Fprintf(c.stdout, "dsn: ret=%s envid=%s\n", m.Envelope.DSNReturn, m.Envelope.DSNEnvelopeID)
	}
	fmt.Fprintln(c.stdout)
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
