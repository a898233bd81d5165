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
