package sieve

import (
	"strings"
	"testing"
	"time"
)

// RFC 5260: the examples of sections 4.4, 5.1 and 6.1, and each date part.
func TestDate(t *testing.T) {
	now := time.Date(2007, 7, 1, 10, 20, 30, 0, time.FixedZone("", -7*3600)) // a Sunday
	boss := newMsg(1, "From: boss@example.com", "Date: Fri, 29 Jun 2007 10:00:00 -0800",
		"Received: from a by b; Sat, 30 Jun 2007 23:00:00 +0000",
		"Received: from c by d; Sun, 01 Jul 2007 09:00:00 +0200")
	late := newMsg(1, "From: boss@example.com", "Date: Fri, 29 Jun 2007 18:00:00 -0800")
	runTranscripts(t, []transcript{
		{"4.4 office hours", `require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }`, &Input{Msg: boss, Now: now}, "fileinto urgent"},
		{"4.4 after hours", `require ["date", "relational", "fileinto"];
if allof(header :is "from" "boss@example.com",
         date :value "ge" :originalzone "date" "hour" "09",
         date :value "lt" :originalzone "date" "hour" "17")
{ fileinto "urgent"; }`, &Input{Msg: late, Now: now}, "keep"},
		{"4.4 weekend (received)", `require ["date", "fileinto"];
if anyof(date :is "received" "weekday" "0",
         date :is "received" "weekday" "6")
{ fileinto "weekend"; }`, &Input{Msg: boss, Now: now}, "fileinto weekend"},
		{"5.1 vacation window", `require ["date", "relational", "vacation"];
if allof(currentdate :value "ge" "date" "2007-06-30",
         currentdate :value "le" "date" "2007-07-07")
{ vacation :days 7 :handle "h" "I'm away during the first week in July."; }`, &Input{Msg: boss, Now: now}, "vacation days=7 handle=h; keep"},
		{"5.1 month-year", `require ["date", "variables", "fileinto"];
if currentdate :matches "month" "*" { set "month" "${1}"; }
if currentdate :matches "year"  "*" { set "year"  "${1}"; }
fileinto "${month}-${year}";`, &Input{Msg: boss, Now: now}, "fileinto 07-2007"},
		{"6.1 index", `require ["date", "index", "fileinto"];
if date :zone "+0000" :index 1 :last "received" "date" "2007-07-01" { fileinto "first-hop"; }
if date :zone "+0000" :index 1 "received" "date" "2007-06-30" { fileinto "last-hop"; }
if date :zone "+0000" :index 3 "received" "date" "2007-07-01" { fileinto "none"; }`, &Input{Msg: boss, Now: now}, "fileinto first-hop; fileinto last-hop"},
		{"header :index :last", `require ["index", "fileinto"];
if header :index 2 :last :contains "received" "from a" { fileinto "a"; }
if address :index 1 :is "from" "boss@example.com" { fileinto "b"; }`, &Input{Msg: boss, Now: now}, "fileinto a; fileinto b"},
	})
	p, err := Compile(`require ["date", "variables", "vacation"];
set "r" "";
if date :zone "+0100" :matches "date" "date" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "julian" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "time" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "iso8601" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "std11" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "zone" "*" { set "r" "${r}|${0}"; }
if date :zone "+0100" :matches "date" "weekday" "*" { set "r" "${r}|${0}"; }
if date :originalzone :matches "date" "zone" "*" { set "r" "${r}|${0}"; }
if date :matches "date" "hour" "*" { set "r" "${r}|${0}"; }
if date :matches "date" "day" "*" { set "r" "${r}|${0}"; }
if currentdate :zone "+0000" :matches "iso8601" "*" { set "r" "${r}|${0}"; }
vacation :handle "h" "${r}";`, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := p.Run(&Input{Msg: boss, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := "|2007-06-29|54280|19:00:00|2007-06-29T19:00:00+01:00|Fri, 29 Jun 2007 19:00:00 +0100|+0100|5|-0800|11|29|2007-07-01T17:20:30+00:00"
	if got := as[0].Vacation.Reason; got != want {
		t.Errorf("parts:\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct{ script, want string }{
		{`if date "date" "year" "2007" {}`, `date needs require "date"`},
		{`require "date"; if date :zone "0100" "date" "year" "2007" {}`, `bad zone`},
		{`require "date"; if date :zone "+0100" :originalzone "date" "year" "2007" {}`, `conflicts`},
		{`require "date"; if date "date" "fortnight" "1" {}`, `unknown date part`},
		{`require "date"; if currentdate :originalzone "year" "2007" {}`, `unknown tag`},
		{`require "date"; if date :index 1 "date" "year" "2007" {}`, `:index needs require "index"`},
		{`require ["date", "index"]; if date :last "date" "year" "2007" {}`, `:last needs :index`},
		{`require "index"; if header :index 0 "subject" "x" {}`, `counts from 1`},
		{`require ["index", "envelope"]; if envelope :index 1 "from" "x" {}`, `unknown tag`},
	} {
		if _, err := Compile(c.script, Limits{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
}
