package message

import "testing"

func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Hello":                             "Hello",
		"Re: Hello":                         "Hello",
		"RE: re: Fwd: Hello":                "Hello",
		"Re[2]: Hello":                      "Hello",
		"[list] Re: Hello":                  "Hello",
		"Re: [list] Hello (fwd)":            "Hello",
		"[Fwd: Re: Hello]":                  "Hello",
		"  lots   of\t space  ":             "lots of space",
		"[only a blob]":                     "[only a blob]",
		"Fwd:":                              "",
		"=?utf-8?q?Re=3A_caf=C3=A9?=":       "café",
		"Reply: not a leader":               "Reply: not a leader",
		"[a][b] Fw : [c] Hello (fwd) (FWD)": "Hello",
		"":                                  "",
	} {
		if got := BaseSubject(in); got != want {
			t.Errorf("BaseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIsReplyOrForward: only a removed "Re:"/"Fwd:" leader, "(fwd)"
// trailer or "[Fwd: ...]" wrapper makes a reply; a list tag or letter case
// does not (THREAD REFERENCES would otherwise put one unrelated thread
// under another instead of both under a placeholder).
func TestIsReplyOrForward(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    bool
	}{
		{"Meeting notes", false},
		{"release 2.0", false},
		{"[list] Release 2.0", false},
		{"[list]   Release   2.0", false},
		{"Re: Meeting notes", true},
		{"RE: Re: Meeting notes", true},
		{"[list] Re: Meeting notes", true},
		{"Fwd: Meeting notes", true},
		{"Meeting notes (fwd)", true},
		{"[Fwd: Meeting notes]", true},
		{"=?utf-8?q?Re=3A_caf=C3=A9?=", true},
	} {
		if got := IsReplyOrForward(tc.subject); got != tc.want {
			t.Errorf("IsReplyOrForward(%q) = %v, want %v", tc.subject, got, tc.want)
		}
	}
}
